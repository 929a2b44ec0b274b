#include "tilesparse/formats/dense.hpp"

#include "src/formats/format_arrays.hpp"
#include "src/formats/structure_checks.hpp"

namespace tilesparse {

DenseWeight DenseWeight::from_dense(const HostMatrix& w, const Mask& mask) { return {apply_mask(w, mask)}; }

Validation DenseWeight::validate() const {
  if (auto v = detail::check_dims(k(), n()); !v) return v;
  return detail::check_representable(w.values(), dtype(), "values");
}

std::int64_t DenseWeight::kept() const { return detail::count_nonzero(w.values()); }

std::size_t DenseWeight::bytes() const { return static_cast<std::size_t>(w.size()) * size_of(dtype()); }

FormatArrays DenseWeight::to_arrays() const {
  FormatArrays fa = detail::make_format_arrays(Pattern::dense, k(), n(), dtype());
  fa.arrays["values"] = to_tensor(w);
  return fa;
}

DenseWeight DenseWeight::from_arrays(const FormatArrays& fa) {
  const auto h = detail::read_header(fa, Pattern::dense);
  return {HostMatrix(h.k, h.n, h.dtype, detail::read_values(fa, "values", h.dtype, {h.k, h.n}))};
}

}  // namespace tilesparse

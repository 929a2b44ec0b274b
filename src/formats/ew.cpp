#include "tilesparse/formats/ew.hpp"

#include "src/formats/format_arrays.hpp"
#include "src/formats/structure_checks.hpp"

namespace tilesparse {

EwWeight EwWeight::from_dense(const HostMatrix& w, const Mask& mask) {
  require(mask.rows == w.rows() && mask.cols == w.cols(), "EwWeight::from_dense", "mask shape differs from weight",
          shape_str({w.rows(), w.cols()}) + " vs mask " + shape_str({mask.rows, mask.cols}));
  require(w.rows() <= detail::kMaxDim, "EwWeight::from_dense", "K does not fit the int32 k_idx",
          shape_str({w.rows(), w.cols()}));
  EwWeight e;
  e.k = w.rows();
  e.n = w.cols();
  e.dtype = w.dtype();
  e.row_ptr.reserve(static_cast<std::size_t>(e.n + 1));
  e.row_ptr.push_back(0);
  for (std::int64_t j = 0; j < e.n; ++j) {
    for (std::int64_t p = 0; p < e.k; ++p) {
      if (!mask(p, j)) continue;
      e.k_idx.push_back(static_cast<std::int32_t>(p));
      e.values.push_back(w(p, j));
    }
    e.row_ptr.push_back(static_cast<std::int64_t>(e.k_idx.size()));
  }
  return e;
}

Validation EwWeight::validate() const {
  if (auto v = detail::check_dims(k, n); !v) return v;
  if (values.size() != k_idx.size())
    return Validation::fail("values has " + std::to_string(values.size()) + " entries but k_idx has " +
                            std::to_string(k_idx.size()));
  if (auto v = detail::check_compressed_rows({row_ptr, k_idx, n, k, "row_ptr", "k_idx", "output column"}); !v)
    return v;
  return detail::check_representable(values, dtype, "values");
}

HostMatrix EwWeight::to_dense() const {
  HostMatrix w(k, n, dtype);
  auto out = w.mutable_values();
  for (std::int64_t j = 0; j < n; ++j)
    for (std::int64_t p = row_ptr[j]; p < row_ptr[j + 1]; ++p) out[k_idx[p] * n + j] = values[p];
  return w;
}

std::int64_t EwWeight::kept() const { return detail::count_nonzero(values); }

std::size_t EwWeight::bytes() const {
  return values.size() * size_of(dtype) + row_ptr.size() * sizeof(std::int64_t) + k_idx.size() * sizeof(std::int32_t);
}

FormatArrays EwWeight::to_arrays() const {
  FormatArrays fa = detail::make_format_arrays(Pattern::ew, k, n, dtype);
  const auto nnz = static_cast<std::int64_t>(k_idx.size());
  fa.arrays["row_ptr"] = Tensor::from_vector(row_ptr, {static_cast<std::int64_t>(row_ptr.size())});
  fa.arrays["k_idx"] = Tensor::from_vector(k_idx, {nnz});
  fa.arrays["values"] = detail::values_tensor(values, dtype, {static_cast<std::int64_t>(values.size())});
  return fa;
}

EwWeight EwWeight::from_arrays(const FormatArrays& fa) {
  const auto h = detail::read_header(fa, Pattern::ew);
  EwWeight e;
  e.k = h.k;
  e.n = h.n;
  e.dtype = h.dtype;
  e.row_ptr = detail::read_array<std::int64_t>(fa, "row_ptr", {h.n + 1});
  e.k_idx = detail::read_array_1d<std::int32_t>(fa, "k_idx");
  e.values = detail::read_values(fa, "values", h.dtype, {static_cast<std::int64_t>(e.k_idx.size())});
  return e;
}

}  // namespace tilesparse

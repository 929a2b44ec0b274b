#include "tilesparse/formats/tw.hpp"

#include <algorithm>
#include <string>

#include "src/formats/format_arrays.hpp"
#include "src/formats/structure_checks.hpp"
#include "tilesparse/core/error.hpp"

namespace tilesparse {

namespace {

std::string tile_name(std::int64_t t) { return "tile " + std::to_string(t); }

}  // namespace

std::int64_t TwWeight::tile_cols(std::int64_t t) const {
  return std::min(g, static_cast<std::int64_t>(col_map.size()) - t * g);
}

Validation TwWeight::check_mask(const Mask& mask, std::int64_t g) {
  if (g < 1) return Validation::fail("tile width g=" + std::to_string(g) + " must be >= 1");
  if (Validation v = detail::check_mask_shape(mask); !v) return v;
  const std::vector<std::int64_t> cols = mask.kept_columns();
  const auto count = static_cast<std::int64_t>(cols.size());
  for (std::int64_t c0 = 0; c0 < count; c0 += g) {
    const std::int64_t first = cols[c0];
    for (std::int64_t c = c0 + 1; c < std::min(c0 + g, count); ++c) {
      for (std::int64_t r = 0; r < mask.rows; ++r) {
        if (mask(r, cols[c]) != mask(r, first))
          return Validation::fail(tile_name(c0 / g) + " (kept columns " + std::to_string(first) + ".." +
                                  std::to_string(cols[std::min(c0 + g, count) - 1]) + "): column " +
                                  std::to_string(cols[c]) + (mask(r, first) ? " prunes" : " keeps") + " row " +
                                  std::to_string(r) + " but column " + std::to_string(first) +
                                  (mask(r, first) ? " keeps" : " prunes") + " it; a tile's columns share one set of kept rows");
      }
    }
  }
  return {};
}

TwWeight TwWeight::from_dense(const HostMatrix& w, const Mask& mask, std::int64_t g) {
  const std::string shapes = shape_str({w.rows(), w.cols()});
  require(mask.rows == w.rows() && mask.cols == w.cols(), "TwWeight::from_dense", "mask shape differs from weight",
          shapes + " vs mask " + shape_str({mask.rows, mask.cols}));
  const Validation dims = detail::check_dims(w.rows(), w.cols());
  require(dims.ok(), "TwWeight::from_dense", dims.problem, shapes);
  const Validation v = check_mask(mask, g);
  require(v.ok(), "TwWeight::from_dense", v.problem, shapes);
  TwWeight tw;
  tw.k = w.rows();
  tw.n = w.cols();
  tw.g = g;
  tw.dtype = w.dtype();
  for (const std::int64_t j : mask.kept_columns()) tw.col_map.push_back(static_cast<std::int32_t>(j));  // N < 2^31: check_dims
  tw.row_ptr.assign(1, 0);
  tw.value_ptr.assign(1, 0);
  for (std::int64_t t = 0; t < tw.tiles(); ++t) {
    const std::int64_t c0 = t * g, tc = tw.tile_cols(t);
    const std::int32_t first = tw.col_map[c0];
    for (std::int64_t r = 0; r < tw.k; ++r) {
      if (!mask(r, first)) continue;
      tw.row_idx.push_back(static_cast<std::int32_t>(r));
      for (std::int64_t c = 0; c < tc; ++c) tw.values.push_back(w(r, tw.col_map[c0 + c]));
    }
    tw.row_ptr.push_back(static_cast<std::int64_t>(tw.row_idx.size()));
    tw.value_ptr.push_back(static_cast<std::int64_t>(tw.values.size()));
  }
  return tw;
}

Validation TwWeight::validate() const {
  if (Validation v = detail::check_dims(k, n); !v) return v;
  if (g < 1 || g > detail::kMaxDim)
    return Validation::fail("tile width g=" + std::to_string(g) + " is outside [1, " + std::to_string(detail::kMaxDim) + "]");
  const auto cols = static_cast<std::int64_t>(col_map.size());
  if (cols > n) return Validation::fail("col_map has " + std::to_string(cols) + " columns, more than n=" + std::to_string(n));
  for (std::int64_t c = 0; c < cols; ++c) {
    if (col_map[c] < 0 || col_map[c] >= n)
      return Validation::fail("col_map[" + std::to_string(c) + "] = " + std::to_string(col_map[c]) + " (" +
                              tile_name(c / g) + ") is outside [0, " + std::to_string(n) + ")");
    if (c > 0 && col_map[c] <= col_map[c - 1])
      return Validation::fail("col_map[" + std::to_string(c) + "] = " + std::to_string(col_map[c]) + " (" +
                              tile_name(c / g) + ") is not above col_map[" + std::to_string(c - 1) + "] = " +
                              std::to_string(col_map[c - 1]) + "; kept columns must be strictly ascending");
  }
  const std::int64_t nt = tiles();
  if (Validation v = detail::check_compressed_rows({row_ptr, row_idx, nt, k, "row_ptr", "row_idx", "tile"}); !v)
    return v;
  if (static_cast<std::int64_t>(value_ptr.size()) != nt + 1)
    return Validation::fail("value_ptr has " + std::to_string(value_ptr.size()) + " entries, expected tiles+1 = " +
                            std::to_string(nt + 1));
  if (value_ptr[0] != 0) return Validation::fail("value_ptr[0] = " + std::to_string(value_ptr[0]) + ", expected 0");
  for (std::int64_t t = 0; t < nt; ++t) {
    // kept_rows <= k and tile_cols <= g, both < 2^31: the product cannot overflow.
    const std::int64_t size = kept_rows(t) * tile_cols(t);
    if (value_ptr[t + 1] - value_ptr[t] != size || value_ptr[t + 1] > static_cast<std::int64_t>(values.size()))
      return Validation::fail(tile_name(t) + ": value_ptr " + std::to_string(value_ptr[t]) + ".." +
                              std::to_string(value_ptr[t + 1]) + " does not hold its " + std::to_string(kept_rows(t)) +
                              " x " + std::to_string(tile_cols(t)) + " block inside values (size " +
                              std::to_string(values.size()) + ")");
  }
  if (value_ptr[nt] != static_cast<std::int64_t>(values.size()))
    return Validation::fail("value_ptr ends at " + std::to_string(value_ptr[nt]) + " but values has " +
                            std::to_string(values.size()) + " entries");
  return detail::check_representable(values, dtype, "values");
}

namespace {
// Calls fn(row, column, value index) for every stored element (zeros included).
template <class Fn>
void for_each_element(const TwWeight& w, Fn&& fn) {
  for (std::int64_t t = 0; t < w.tiles(); ++t) {
    const std::int64_t tc = w.tile_cols(t);
    for (std::int64_t i = w.row_ptr[t]; i < w.row_ptr[t + 1]; ++i)
      for (std::int64_t c = 0; c < tc; ++c)
        fn(w.row_idx[i], w.col_map[t * w.g + c], w.value_ptr[t] + (i - w.row_ptr[t]) * tc + c);
  }
}
}  // namespace

HostMatrix TwWeight::to_dense() const {
  HostMatrix d(k, n, dtype);
  for_each_element(*this, [&](std::int64_t r, std::int64_t c, std::int64_t vi) { d.set(r, c, values[vi]); });
  return d;
}

Mask TwWeight::structure() const {
  Mask m(k, n, false);
  for_each_element(*this, [&](std::int64_t r, std::int64_t c, std::int64_t) { m.set(r, c, true); });
  return m;
}

std::int64_t TwWeight::kept() const { return detail::count_nonzero(values); }

std::size_t TwWeight::bytes() const {
  return values.size() * size_of(dtype) + col_map.size() * sizeof(std::int32_t) +
         row_ptr.size() * sizeof(std::int64_t) + row_idx.size() * sizeof(std::int32_t) +
         value_ptr.size() * sizeof(std::int64_t);
}

FormatArrays TwWeight::to_arrays() const {
  FormatArrays fa = detail::make_format_arrays(Pattern::tw, k, n, dtype);
  fa.meta["g"] = std::to_string(g);
  detail::put_meta_share(fa, "column_share", column_share);
  const auto len = [](const auto& v) { return std::vector<std::int64_t>{static_cast<std::int64_t>(v.size())}; };
  fa.arrays["col_map"] = Tensor::from_vector(col_map, len(col_map));
  fa.arrays["row_ptr"] = Tensor::from_vector(row_ptr, len(row_ptr));
  fa.arrays["row_idx"] = Tensor::from_vector(row_idx, len(row_idx));
  fa.arrays["value_ptr"] = Tensor::from_vector(value_ptr, len(value_ptr));
  fa.arrays["values"] = detail::values_tensor(values, dtype, len(values));
  return fa;
}

TwWeight TwWeight::from_arrays(const FormatArrays& fa) {
  const detail::ArraysHeader h = detail::read_header(fa, Pattern::tw);
  TwWeight tw;
  tw.k = h.k;
  tw.n = h.n;
  tw.dtype = h.dtype;
  tw.g = detail::meta_int_at_most(fa, "g", detail::kMaxDim);
  tw.column_share = detail::meta_share(fa, "column_share");
  tw.col_map = detail::read_array_1d<std::int32_t>(fa, "col_map");
  tw.row_ptr = detail::read_array_1d<std::int64_t>(fa, "row_ptr");
  tw.row_idx = detail::read_array_1d<std::int32_t>(fa, "row_idx");
  tw.value_ptr = detail::read_array_1d<std::int64_t>(fa, "value_ptr");
  // The shape is copied out: a reference from a call given a temporary key trips GCC 13's
  // -Wdangling-reference.
  const std::vector<std::int64_t> shape = detail::checked_array_1d(fa, "values", elem_type_of(tw.dtype)).shape;
  tw.values = detail::read_values(fa, "values", tw.dtype, shape);
  return tw;
}

}  // namespace tilesparse

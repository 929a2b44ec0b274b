#include "tilesparse/formats/tew.hpp"

#include <algorithm>
#include <string>

#include "src/formats/format_arrays.hpp"
#include "tilesparse/core/error.hpp"

namespace tilesparse {

namespace {

const std::string kResidualPrefix = "residual.";

// Whether (row r, column j) lies in the TW tile structure; tw must be valid.
bool in_structure(const TwWeight& tw, std::int32_t r, std::int32_t j) {
  const auto c = std::lower_bound(tw.col_map.begin(), tw.col_map.end(), j);
  if (c == tw.col_map.end() || *c != j) return false;
  const std::int64_t t = (c - tw.col_map.begin()) / tw.g;
  const auto first = tw.row_idx.begin() + tw.row_ptr[t], last = tw.row_idx.begin() + tw.row_ptr[t + 1];
  return std::binary_search(first, last, r);
}

}  // namespace

TewWeight TewWeight::from_dense(const HostMatrix& w, const Mask& tw_mask, const Mask& residual_mask, std::int64_t g) {
  const std::string shapes = shape_str({w.rows(), w.cols()});
  require(residual_mask.rows == w.rows() && residual_mask.cols == w.cols(), "TewWeight::from_dense",
          "residual mask shape differs from weight", shapes + " vs mask " + shape_str({residual_mask.rows, residual_mask.cols}));
  TewWeight tew;
  tew.tw = TwWeight::from_dense(w, tw_mask, g);
  for (std::int64_t r = 0; r < w.rows(); ++r)
    for (std::int64_t j = 0; j < w.cols(); ++j)
      if (residual_mask(r, j) && tw_mask(r, j))  // the message is built only on failure
        throw Error("TewWeight::from_dense",
                    "residual element (" + std::to_string(r) + ", " + std::to_string(j) +
                        ") is also in the TW structure",
                    shapes);
  tew.residual = EwWeight::from_dense(w, residual_mask);
  return tew;
}

Validation TewWeight::validate() const {
  if (Validation v = tw.validate(); !v) return Validation::fail("tw: " + v.problem);
  if (Validation v = residual.validate(); !v) return Validation::fail("residual: " + v.problem);
  if (residual.k != tw.k || residual.n != tw.n)
    return Validation::fail("residual shape " + shape_str({residual.k, residual.n}) + " differs from tw shape " +
                            shape_str({tw.k, tw.n}));
  if (residual.dtype != tw.dtype)
    return Validation::fail("residual dtype " + std::string(to_string(residual.dtype)) + " differs from tw dtype " +
                            std::string(to_string(tw.dtype)));
  for (std::int64_t j = 0; j < residual.n; ++j)
    for (std::int64_t i = residual.row_ptr[j]; i < residual.row_ptr[j + 1]; ++i)
      if (in_structure(tw, residual.k_idx[i], static_cast<std::int32_t>(j)))
        return Validation::fail("residual element (" + std::to_string(residual.k_idx[i]) + ", " + std::to_string(j) +
                                ") overlaps the TW structure");
  return {};
}

TwWeight TewWeight::merged() const {
  Mask mask = tw.structure();
  for (std::int64_t j = 0; j < residual.n; ++j)
    for (std::int64_t i = residual.row_ptr[j]; i < residual.row_ptr[j + 1]; ++i) mask.set(residual.k_idx[i], j, true);
  // Columns with any element, regrouped into tiles of g; each tile keeps the union of
  // its columns' rows.
  const std::vector<std::int64_t> kept_columns = mask.kept_columns();
  const auto columns = static_cast<std::int64_t>(kept_columns.size());
  for (std::int64_t c0 = 0; c0 < columns; c0 += tw.g) {
    const std::int64_t c1 = std::min(columns, c0 + tw.g);
    for (std::int64_t r = 0; r < mask.rows; ++r) {
      bool any = false;
      for (std::int64_t c = c0; c < c1 && !any; ++c) any = mask(r, kept_columns[c]);
      if (any)
        for (std::int64_t c = c0; c < c1; ++c) mask.set(r, kept_columns[c], true);
    }
  }
  return TwWeight::from_dense(to_dense(), mask, tw.g);
}

HostMatrix TewWeight::to_dense() const {
  HostMatrix d = tw.to_dense();
  for (std::int64_t j = 0; j < residual.n; ++j)
    for (std::int64_t i = residual.row_ptr[j]; i < residual.row_ptr[j + 1]; ++i)
      d.set(residual.k_idx[i], j, residual.values[i]);
  return d;
}

std::int64_t TewWeight::kept() const { return tw.kept() + residual.kept(); }

std::size_t TewWeight::bytes() const { return tw.bytes() + residual.bytes(); }

FormatArrays TewWeight::to_arrays() const {
  FormatArrays fa = tw.to_arrays();
  fa.meta["pattern"] = std::string(to_string(Pattern::tew));
  detail::put_meta_share(fa, "delta", delta);
  for (auto& [name, t] : residual.to_arrays().arrays) fa.arrays[kResidualPrefix + name] = t;
  return fa;
}

TewWeight TewWeight::from_arrays(const FormatArrays& fa) {
  // Split into the two parts' own serialized forms; each part reads the shared meta.
  FormatArrays tw_part, residual_part;
  tw_part.meta = residual_part.meta = fa.meta;
  tw_part.meta["pattern"] = std::string(to_string(Pattern::tw));
  residual_part.meta["pattern"] = std::string(to_string(Pattern::ew));
  residual_part.meta.erase("g");
  for (const auto& [name, t] : fa.arrays) {
    if (name.starts_with(kResidualPrefix))
      residual_part.arrays[name.substr(kResidualPrefix.size())] = t;
    else
      tw_part.arrays[name] = t;
  }
  return {TwWeight::from_arrays(tw_part), EwWeight::from_arrays(residual_part), detail::meta_share(fa, "delta")};
}

}  // namespace tilesparse

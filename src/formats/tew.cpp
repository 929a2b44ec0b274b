#include "tilesparse/formats/tew.hpp"

#include <algorithm>
#include <span>
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

// A kept column of the merged weight and where its elements come from.
struct MergedColumn {
  std::int32_t column;
  std::int64_t tw_position;  // its index in tw.col_map; -1 when the TW structure holds none of its elements
};

// The columns holding a TW element (a col_map column whose tile keeps any row) or a
// residual entry, ascending: the kept columns of the union of both structures.
std::vector<MergedColumn> merged_columns(const TwWeight& tw, const EwWeight& residual) {
  std::vector<MergedColumn> columns;
  std::size_t next = 0;  // the first col_map entry not yet passed
  for (std::int64_t j = 0; j < tw.n; ++j) {
    std::int64_t tw_position = -1;
    if (next < tw.col_map.size() && tw.col_map[next] == j) {
      const auto position = static_cast<std::int64_t>(next++);
      if (tw.kept_rows(position / tw.g) > 0) tw_position = position;
    }
    if (tw_position >= 0 || residual.row_ptr[j + 1] > residual.row_ptr[j])
      columns.push_back({static_cast<std::int32_t>(j), tw_position});
  }
  return columns;
}

// Calls fn(row, value) for the TW elements of col, then for its residual entries: a
// residual entry on a TW element comes last and wins, as in to_dense().
template <class Fn>
void for_each_element(const TwWeight& tw, const EwWeight& residual, const MergedColumn& col, Fn&& fn) {
  if (col.tw_position >= 0) {
    const std::int64_t t = col.tw_position / tw.g, tile_cols = tw.tile_cols(t);
    const std::int64_t c = col.tw_position - t * tw.g;
    for (std::int64_t i = tw.row_ptr[t]; i < tw.row_ptr[t + 1]; ++i)
      fn(tw.row_idx[i], tw.values[tw.value_ptr[t] + (i - tw.row_ptr[t]) * tile_cols + c]);
  }
  for (std::int64_t i = residual.row_ptr[col.column]; i < residual.row_ptr[col.column + 1]; ++i)
    fn(residual.k_idx[i], residual.values[i]);
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
  // Built tile by tile from the stored elements: a dense K x N image of an LLM layer
  // would take gigabytes.
  const std::vector<MergedColumn> columns = merged_columns(tw, residual);
  TwWeight m;
  m.k = tw.k;
  m.n = tw.n;
  m.g = tw.g;
  m.dtype = tw.dtype;
  for (const MergedColumn& col : columns) m.col_map.push_back(col.column);
  m.row_ptr.assign(1, 0);
  m.value_ptr.assign(1, 0);
  // Position of each K row among the kept rows of the tile being built (-1: not kept);
  // reset after each tile.
  std::vector<std::int64_t> row_slot(static_cast<std::size_t>(m.k), -1);
  for (std::int64_t t = 0; t < m.tiles(); ++t) {
    const std::int64_t tile_cols = m.tile_cols(t);
    const std::span<const MergedColumn> tile(columns.data() + t * m.g, static_cast<std::size_t>(tile_cols));
    // The tile keeps the union of its columns' rows, ascending.
    const auto first_row = static_cast<std::ptrdiff_t>(m.row_idx.size());
    for (const MergedColumn& col : tile)
      for_each_element(tw, residual, col, [&](std::int32_t r, float) {
        if (row_slot[r] >= 0) return;
        row_slot[r] = 0;
        m.row_idx.push_back(r);
      });
    const std::span<std::int32_t> rows(m.row_idx.begin() + first_row, m.row_idx.end());
    std::ranges::sort(rows);
    for (std::size_t i = 0; i < rows.size(); ++i) row_slot[rows[i]] = static_cast<std::int64_t>(i);
    // Its [rows][tile_cols] block: zeros where neither part has a value.
    const std::size_t block = m.values.size();
    m.values.resize(block + rows.size() * static_cast<std::size_t>(tile_cols), 0.0f);
    for (std::int64_t c = 0; c < tile_cols; ++c)
      for_each_element(tw, residual, tile[c], [&](std::int32_t r, float v) {
        m.values[block + static_cast<std::size_t>(row_slot[r] * tile_cols + c)] = v;
      });
    for (const std::int32_t r : rows) row_slot[r] = -1;
    m.row_ptr.push_back(static_cast<std::int64_t>(m.row_idx.size()));
    m.value_ptr.push_back(static_cast<std::int64_t>(m.values.size()));
  }
  return m;
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

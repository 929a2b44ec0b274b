#pragma once
// Tile-wise sparsity (Guo et al., SC'20). Whole output columns are pruned globally; the
// surviving columns, in ascending order, are regrouped into tiles of G consecutive
// survivors (every tile has exactly G columns except possibly the last); inside each
// tile whole K rows are pruned, a different number per tile. A tile is then a small
// dense GEMM: gather its kept rows of A, multiply by its dense block, scatter its
// columns to their original positions.
#include <vector>

#include "tilesparse/core/matrix.hpp"
#include "tilesparse/formats/common.hpp"

namespace tilesparse {

struct TwWeight {
  std::int64_t k = 0, n = 0, g = 128;
  DType dtype = DType::f32;
  std::vector<std::int32_t> col_map;    // kept output columns, ascending; tile t owns col_map[t*g, min((t+1)*g, size))
  std::vector<std::int64_t> row_ptr;    // size tiles()+1, offsets into row_idx
  std::vector<std::int32_t> row_idx;    // kept K rows of each tile, ascending within a tile
  std::vector<std::int64_t> value_ptr;  // size tiles()+1, offsets into values
  std::vector<float> values;            // tile t: [kept_rows(t)][tile_cols(t)] row-major
  // The pruning parameter that shaped the mask (PatternSpec::column_share; -1: the
  // default even split, or not known). Kept in model files, unused by the kernels.
  double column_share = -1;

  std::int64_t tiles() const { return (static_cast<std::int64_t>(col_map.size()) + g - 1) / g; }
  std::int64_t tile_cols(std::int64_t t) const;
  std::int64_t kept_rows(std::int64_t t) const { return row_ptr[t + 1] - row_ptr[t]; }

  // Kept columns are those with any kept element. Throws Error naming the first tile
  // whose columns do not share one set of kept rows.
  static TwWeight from_dense(const HostMatrix& w, const Mask& mask, std::int64_t g);
  // ok when the mask has TW structure for g; names the first tile whose columns differ.
  static Validation check_mask(const Mask& mask, std::int64_t g);
  Validation validate() const;
  HostMatrix to_dense() const;
  // Mask of the tile structure (kept rows x kept columns of each tile), zeros included.
  Mask structure() const;
  std::int64_t kept() const;  // nonzero stored values
  std::size_t bytes() const;
  FormatArrays to_arrays() const;  // "col_map" I32, "row_ptr" I64, "row_idx" I32, "value_ptr" I64, "values" dtype
  static TwWeight from_arrays(const FormatArrays& fa);
  friend bool operator==(const TwWeight&, const TwWeight&) = default;
};

}  // namespace tilesparse

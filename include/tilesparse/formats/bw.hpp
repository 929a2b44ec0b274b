#pragma once
// Block sparsity: BSR of Wᵀ. Output columns are grouped into block rows of bn, K into
// block columns of bk; each stored block holds bn x bk values (row-major, in Wᵀ
// orientation: block[jn][jk] = W[kb*bk + jk][nb*bn + jn]). Edge blocks are zero-padded.
#include <vector>

#include "tilesparse/core/matrix.hpp"
#include "tilesparse/formats/common.hpp"

namespace tilesparse {

struct BwWeight {
  std::int64_t k = 0, n = 0, bk = 32, bn = 32;
  DType dtype = DType::f32;
  std::vector<std::int64_t> row_ptr;  // size ceil(n/bn)+1
  std::vector<std::int32_t> kb_idx;   // block column (K block) of each stored block, ascending per row
  std::vector<float> values;          // size blocks*bn*bk

  std::int64_t block_rows() const { return (n + bn - 1) / bn; }
  std::int64_t block_cols() const { return (k + bk - 1) / bk; }
  std::int64_t blocks() const { return static_cast<std::int64_t>(kb_idx.size()); }
  // Every block touched by a kept element is stored whole. Throws Error when the mask
  // keeps part of a block (it must be all-or-nothing per block), naming the block.
  static BwWeight from_dense(const HostMatrix& w, const Mask& mask, std::int64_t bk, std::int64_t bn);
  // ok when every bk x bn block is kept whole or pruned whole; names the first mixed block.
  static Validation check_mask(const Mask& mask, std::int64_t bk, std::int64_t bn);
  Validation validate() const;
  HostMatrix to_dense() const;
  std::int64_t kept() const;  // nonzero stored values
  std::size_t bytes() const;
  FormatArrays to_arrays() const;  // "row_ptr" I64, "kb_idx" I32, "values" dtype[blocks,bn,bk]
  static BwWeight from_arrays(const FormatArrays& fa);
  friend bool operator==(const BwWeight&, const BwWeight&) = default;
};

}  // namespace tilesparse

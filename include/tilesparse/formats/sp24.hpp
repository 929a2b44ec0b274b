#pragma once
// 2:4 sparsity in the layout of the sparse tensor cores. The sparse operand of PTX
// mma.sp is the row-major M x K "A" matrix, sparse along K, so we store Wᵀ (N x K):
// Cᵀ = Wᵀ·Aᵀ. K is padded to a multiple of 32 and N to a multiple of 16 with zeros.
//   values   [n_pad][k_pad/2]  the two kept values of every group of four, in K order
//   metadata 2-bit in-group positions of those values, arranged as the per-thread
//            metadata registers of mma.sp m16n8k32 (fp16/bf16) read them, so a warp
//            loads its registers with plain 32-bit loads. docs/formats.md gives the layout.
// A group that keeps fewer than two stores zeros at unused positions. fp32 weights keep
// the same layout (the CPU reference uses them; GPU sparse tensor core paths need f16/bf16).
#include <vector>

#include "tilesparse/core/matrix.hpp"
#include "tilesparse/formats/common.hpp"

namespace tilesparse {

struct Sp24Weight {
  std::int64_t k = 0, n = 0;
  std::int64_t k_pad = 0, n_pad = 0;
  DType dtype = DType::f16;
  std::vector<float> values;           // [n_pad][k_pad/2]
  std::vector<std::uint32_t> metadata;  // n_pad*k_pad/32 words (16 2-bit indices per word)

  // Throws Error naming the first group of four (column j, rows k0..k0+3) with > 2 kept.
  static Sp24Weight from_dense(const HostMatrix& w, const Mask& mask);
  static Validation check_mask(const Mask& mask);
  // 2-bit position (0..3) of kept value `slot` (0 or 1) of group `grp` (K/4 index) in row j of Wᵀ.
  int position(std::int64_t j, std::int64_t grp, int slot) const;
  Validation validate() const;
  HostMatrix to_dense() const;
  std::int64_t kept() const;  // nonzero stored values
  std::size_t bytes() const;
  FormatArrays to_arrays() const;  // "values" dtype[n_pad, k_pad/2], "metadata" U32[...]
  static Sp24Weight from_arrays(const FormatArrays& fa);
  friend bool operator==(const Sp24Weight&, const Sp24Weight&) = default;
};

}  // namespace tilesparse

#pragma once
// The device form of a TW weight (built once per weight by tw_plan.cpp) and the launch
// arguments of the TW kernels. Free of C++20 headers: the .cu files include it.
//
// A TW weight is cut into work items. An item is up to `bn` consecutive entries of the
// column list `cols` (kept columns of one tile, in tile order; a tile wider than bn
// gives several items) multiplied by the tile's kept K rows: a small dense GEMM
//   C[:, cols[col_begin + j]] = A[:, rows[rows_offset + r]] · V_item[r][j].
// The output columns a TW weight prunes entirely are appended to `cols` after the kept
// ones and covered by items with kept_rows = 0, so a kernel writes every output column
// (epilogue(0) there) without a second pass. Items are sorted by kept_rows, heaviest
// first; one launch runs them all.
#include <cuda_runtime.h>

#include <cstdint>

#include "tilesparse/core/dtype.hpp"

namespace tilesparse::cuda {

// The kept rows of each tile are padded with -1 to a multiple of this; a kernel reads
// -1 as a zero row of A (never dereferenced), and the packed values there are zero.
constexpr int kTwRowBlock = 64;

struct TwItem {
  std::int32_t col_begin;      // first entry of cols
  std::int32_t cols;           // entries, 1..bn
  std::int32_t kept_rows;      // the tile's kept rows (unpadded); 0 for pruned columns
  std::int32_t tile;           // tile index of the weight (-1 for pruned columns)
  std::int64_t rows_offset;    // into rows: padded kept rows of the tile
  std::int64_t values_offset;  // into values (elements): this item's packed block
  // The first kept row when the kept rows are run_start, run_start + 1, ... and fill
  // whole steps (kept_rows a positive multiple of kTwRowBlock), else -1: the wgmma
  // kernel then copies each step's activations as tensor boxes, not row by row.
  std::int32_t run_start;
};

// How an item's values are laid out (zero where r >= kept_rows or j >= cols), in the
// weight's dtype:
//  simt_rows:  [kept_rows padded][bn], row-major: a step of BK kept rows is one contiguous
//   run. Read by the CUDA-core kernel (fp32) and the mma.sync kernel (f16/bf16, whose
//   ldmatrix.trans turns the k-rows into B fragments).
//  wgmma_sw128: per block of kTwRowBlock rows, a [bn][kTwRowBlock] K-major image with the
//   128-byte swizzle of wgmma/TMA (element (j, r) at j*64 + ((r/8) ^ (j%8))*8 + r%8), so a
//   shared-memory stage is one contiguous copy (16-bit dtypes).
enum class TwPacking : int { simt_rows, wgmma_sw128 };

struct TwLaunch {
  const void* a = nullptr;  // A (M x K) row-major, or Aᵀ (K x M) when transposed
  void* c = nullptr;        // C (M x N) row-major, or Cᵀ (N x M) when transposed
  std::int64_t m = 0, k = 0, n = 0;
  bool transposed = false;
  // Row-major layout only, or null: Aᵀ (K x M) copied from A by launch_transpose, which
  // the tensor-core kernels gather from (whole rows, coalesced) instead of A's scattered
  // columns; C stays row-major.
  const void* a_transposed = nullptr;
  const TwItem* items = nullptr;
  std::int32_t item_count = 0;
  const std::int32_t* rows = nullptr;  // padded kept rows, per tile
  const std::int32_t* cols = nullptr;  // n entries: kept columns tile by tile, then pruned
  const void* values = nullptr;        // packed per `packing`, in the weight's dtype
  int bn = 0;                          // 32, 64 or 128
  const float* bias = nullptr;         // N values (by original column), or null
  int activation = 0;                  // 0 none, 1 relu, 2 gelu
  bool accumulate = false;             // add the value c already holds (TEW residual) before bias/activation
  // Compact output: c has only the kept columns (n_out = their count), in the order of
  // `cols`; items with tile == -1 (pruned columns) write nothing. Otherwise n_out == n.
  bool compact = false;
  std::int64_t n_out = 0;
  cudaStream_t stream = nullptr;
};

// out (cols x rows) = inᵀ for a row-major rows x cols matrix of 16-bit values.
void launch_transpose(const void* in, void* out, std::int64_t rows, std::int64_t cols, cudaStream_t stream);

// f16/bf16, fp32 accumulation, sm_90a tensor cores (wgmma); values packed wgmma_sw128.
void launch_tw_wgmma(const TwLaunch& x, DType dtype);
// f16/bf16, fp32 accumulation, sm_80+ tensor cores (warp-level mma.sync m16n8k16);
// values packed simt_rows.
void launch_tw_mma(const TwLaunch& x, DType dtype);
// fp32 on CUDA cores (no tensor cores); values packed simt_rows.
void launch_tw_simt_f32(const TwLaunch& x);

// c = A · R for a CSR residual R of Wᵀ (row_ptr over the N output features, int32 k
// indices), written for every element of c (zero where R is empty); fp32 A, R and C: the
// residual pass of fp32 TEW (16-bit TEW runs its merged weight on the tensor cores).
struct CsrResidualLaunch {
  const void* a = nullptr;
  void* c = nullptr;
  std::int64_t m = 0, k = 0, n = 0;
  bool transposed = false;
  const std::int64_t* row_ptr = nullptr;
  const std::int32_t* k_idx = nullptr;
  const void* values = nullptr;
  cudaStream_t stream = nullptr;
};
void launch_csr_residual_f32(const CsrResidualLaunch& x);

}  // namespace tilesparse::cuda

#pragma once
// The launch arguments of the TW kernels: the device form of a TW weight (tw_item.hpp,
// built once per weight by tw_plan.cpp) and the call's operands. Free of C++20 headers:
// the .cu files include it.
#include <cuda_runtime.h>

#include <cstdint>

#include "backends/cuda/tw_item.hpp"
#include "tilesparse/core/dtype.hpp"

namespace tilesparse::cuda {

// TwPlanShape: the plan's scalars (bn, item counts, rows_stride, has_*_items).
struct TwLaunch : TwPlanShape {
  const void* a = nullptr;  // A (M x K) row-major, or Aᵀ (K x M) when transposed
  void* c = nullptr;        // C (M x N) row-major, or Cᵀ (N x M) when transposed
  std::int64_t m = 0, k = 0, n = 0;
  bool transposed = false;
  // Row-major layout only, or null: Aᵀ (K x M) copied from A by launch_row_major_pass,
  // which the tensor-core kernels gather from (whole rows, coalesced) instead of A's
  // scattered columns; C stays row-major. Where the pass copied only the K rows the
  // weight keeps, the plan is the weight's on those rows (tw_on_kept_rows) and k their count.
  const void* a_transposed = nullptr;
  const TwItem* items = nullptr;
  // The kept items' CTAs all fit in one wave (set by the wgmma launcher): raster_position
  // then keeps them item after item, which ran 7-10% faster than the grouped raster there.
  bool one_wave = false;
  const std::int32_t* rows = nullptr;  // padded kept rows, a slot of rows_stride per item with kept rows
  const std::int32_t* cols = nullptr;  // n entries: kept columns tile by tile, then pruned
  const void* values = nullptr;        // packed per `packing`, in the weight's dtype
  const float* bias = nullptr;         // N values (by original column), or null
  int activation = 0;                  // 0 none, 1 relu, 2 gelu
  bool accumulate = false;             // add the value c already holds (TEW residual) before bias/activation
  // Compact output: c has only the kept columns (n_out = their count), in the order of
  // `cols`; items with tile == -1 (pruned columns) write nothing. Otherwise n_out == n.
  bool compact = false;
  std::int64_t n_out = 0;
  // A full row-major C written in the items' windows (TwPlanShape::window_items > 0; set
  // by tw_matmul.cpp for the tensor-core kernels, never with `accumulate`): only the
  // items with a tile are launched.
  bool row_major_windows = false;
  // A full row-major C that launch_row_major_pass has filled with activation(bias) (set by
  // tw_matmul.cpp, never with `accumulate`): only the items with kept rows are launched.
  bool pruned_columns_filled = false;
  // Launched right behind launch_row_major_pass on the same stream (set by tw_matmul.cpp
  // for the wgmma kernel): a programmatic dependent launch, so that its CTAs start, load
  // their items and row indices while the pass finishes; each waits for the whole pass
  // (griddepcontrol.wait) before it reads Aᵀ or writes C.
  bool after_pass = false;
  cudaStream_t stream = nullptr;
};

// The items a launch runs (x.items[0, launched_items(x))): all of them; those with a tile
// when they write C in row-major windows; those with kept rows over a filled C.
inline std::int64_t launched_items(const TwLaunch& x) {
  return x.row_major_windows ? x.window_items : x.pruned_columns_filled ? x.kept_items : x.item_count;
}

// The wgmma kernel reads row-major A in place, as TMA boxes, and the launcher makes no Aᵀ
// copy, when no item is gathered (every item with kept rows a run, TwItem::run_start, as
// at 0% sparsity) and A allows TMA (16-byte aligned base and row pitch: K % 8 == 0).
// Never once the launcher has made the copy: a plan on the kept rows (x.k their count)
// may have no gathered item and still read them from the copy.
inline bool wgmma_reads_row_major_a_in_place(const TwLaunch& x) {
  return !x.transposed && x.a_transposed == nullptr && !x.has_gathered_items && x.k % 8 == 0 &&
         reinterpret_cast<std::uintptr_t>(x.a) % 16 == 0;
}

// The pass before a row-major call of the tensor-core kernels (row_major_pass.cu), one
// launch of 16-bit values: Aᵀ, a copy of A's kept columns as rows (whole, so the kernels
// gather them coalesced), and, when c is set, C filled with activation(bias) (the
// kernel then writes only the columns of the tiles with kept rows:
// TwLaunch::pruned_columns_filled).
struct RowMajorPass {
  const void* a = nullptr;  // A, m x k, row-major
  std::int64_t m = 0, k = 0;
  // The columns of A copied, ascending (a_col_count of them), or null: all k.
  const std::int32_t* a_cols = nullptr;
  std::int64_t a_col_count = 0;
  void* a_transposed = nullptr;  // (a_cols ? a_col_count : k) x m
  void* c = nullptr;             // C (m x n, row-major) to fill, or null
  std::int64_t n = 0;
  const float* bias = nullptr;  // n values, or null
  int activation = 0;           // as TwLaunch::activation
  cudaStream_t stream = nullptr;
};
void launch_row_major_pass(const RowMajorPass& p, DType dtype);

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

#pragma once
// The device form of a TW weight, which tw_plan.cpp builds on the host and the TW kernels
// read. Plain C++ (no CUDA, no C++20 headers): the .cu files and the CPU tests include it.
//
// A TW weight is cut into work items. An item is up to `bn` consecutive entries of the
// column list `cols` (kept columns of one tile, in tile order; a tile wider than bn
// gives several items) multiplied by the tile's kept K rows: a small dense GEMM
//   C[:, cols[col_begin + j]] = A[:, rows[rows_offset + r]] · V_item[r][j].
// The output columns a TW weight prunes entirely are appended to `cols` after the kept
// ones and covered by items with kept_rows = 0, so a kernel writes every output column
// (epilogue(0) there) without a second pass. Items are sorted by kept_rows, heaviest
// first; one launch runs them all.
#include <cstdint>

namespace tilesparse::cuda {

// The kept rows of each tile are padded with -1 to a multiple of this; a kernel reads
// -1 as a zero row of A (never dereferenced), and the packed values there are zero.
constexpr int kTwRowBlock = 64;

// The padded kept rows of the items with kept rows lie in slots of one stride (at least
// this many steps of kTwRowBlock, padded with -1), item i's at i x stride: a kernel can
// load an item's first row indices knowing only the item's index, together with the
// item itself instead of after it.
constexpr int kTwMinSlotSteps = 4;

struct TwItem {
  std::int32_t col_begin;      // first entry of cols
  std::int32_t cols;           // entries, 1..bn
  std::int32_t kept_rows;      // the tile's kept rows (unpadded); 0 for pruned columns
  std::int32_t tile;           // tile index of the weight (-1 for pruned columns)
  std::int64_t rows_offset;    // into rows: the item's slot (its index x the plan's rows stride)
  std::int64_t values_offset;  // into values (elements): this item's packed block
  // The first kept row when the kept rows are run_start, run_start + 1, ... and fill
  // whole steps (kept_rows a positive multiple of kTwRowBlock), else -1: the wgmma
  // kernel then copies each step's activations as tensor boxes, not row by row.
  std::int32_t run_start;
  // The first output column when the item's columns are consecutive columns of C
  // (cols[col_begin + j] == col_run + j), else -1: the epilogue then writes a row-major
  // C's rows in 16-byte runs.
  std::int32_t col_run;
  // Where the plan has row-major windows (TwPlanShape::window_items > 0) and the item has a
  // tile: the columns [window_begin, window_end) of a full row-major C that it writes,
  // its own and the pruned ones up to the next item's first column, as whole runs of each
  // C row (16-byte stores) instead of one scattered element per column. Else 0, 0.
  std::int32_t window_begin;
  std::int32_t window_end;
};

// The widest row-major window a plan gives an item, in item column blocks (bn). Past it
// the plan has no windows and the pruned columns keep their own items: at 99% sparsity
// (windows ~10 blocks wide) a kept CTA writing ~1000 columns of its rows alone took
// longer than the pruned-column CTAs' scattered stores spread over the GPU (H200,
// bench/NOTES.md "ninth").
constexpr int kTwMaxWindowBlocks = 4;

// The scalars of a plan that a launch reads, set by tw_plan.cpp with its arrays and
// carried as they are by the cached device plan (tw_matmul.cpp) and TwLaunch.
struct TwPlanShape {
  int bn = 0;                       // item column block: 32, 64 or 128
  std::int32_t item_count = 0;      // items, those with kept rows first
  std::int64_t kept_items = 0;      // items with kept rows (tw_output's raster)
  std::int64_t kept_steps = 0;      // their steps of kTwRowBlock rows, summed (tw_wgmma_row_block)
  std::int64_t rows_stride = 0;     // entries per item slot of the kept rows (kTwMinSlotSteps)
  // Some item has run_start >= 0: only then does the wgmma kernel need the tensor map of
  // A or Aᵀ (encoded on the host at each launch).
  bool has_run_items = false;
  bool has_gathered_items = false;  // some item with kept rows has run_start < 0 (its rows are gathered)
  // Items with a tile (the first ones: those with kept rows, then tiles whose rows are all
  // pruned) when their row-major windows (TwItem::window_begin) cover all N columns: a
  // full row-major C is then written by them alone, and the pruned-column items are not
  // launched. 0 when the plan has no windows: an item's columns are not increasing, or
  // items interleave, or a window would be wider than kTwMaxWindowBlocks, or no tile keeps a column.
  std::int32_t window_items = 0;
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

// Activation rows per CTA of the wgmma kernel (transposed_async gather): 128 (two
// warpgroups, two CTAs per SM), or 64 (one warpgroup, three CTAs per SM) when the
// 64-row grid of kept items fits in one wave of them (kept_items * ceil(m / 64) <= 3 *
// sms) and the items are long (at least 9 steps of kTwRowBlock kept rows on average):
// more independent CTAs on an SM, each loading the weight block twice as often per
// FLOP. Measured on the H200 (bench/NOTES.md "sixth"): 5-10% faster where it picks 64
// (most of that taken back since by the grouped raster of tw_output::start_item), while
// 64-row grids past one wave or items of a few steps ran up to 1.65x slower.
// kept_steps: the kept items' steps, summed.
int tw_wgmma_row_block(std::int64_t m, std::int64_t kept_items, std::int64_t kept_steps, int sms);

}  // namespace tilesparse::cuda

#pragma once
// Host side of the TW kernels' device form (tw_item.hpp): the work items, padded kept
// rows, column list and packed values of a TW weight, before upload. Pure C++, compiled in
// every build (no CUDA), so the CPU tests check the plan the GPU kernels will read.
#include <cstdint>
#include <vector>

#include "backends/cuda/tw_item.hpp"
#include "tilesparse/formats/tw.hpp"

namespace tilesparse::cuda {

struct TwHostPlan : TwPlanShape {
  std::vector<TwItem> items;         // heaviest first, then the pruned-column items
  std::vector<std::int32_t> rows;    // per item with kept rows, a slot of rows_stride (kTwMinSlotSteps)
  std::vector<std::int32_t> cols;    // n entries: kept columns tile by tile, then the pruned ones
  std::vector<float> values;         // per item, laid out as `packing` says (TwPacking)
};

// Column block of an item: the smallest of 32/64/128 that holds a tile of g columns
// (wider tiles are split into several items of 128).
int tw_column_block(std::int64_t g);

// Which tiles of a wgmma_sw128 plan run as dense tiles: all K rows from row 0, zeros in
// the rows the tile prunes, so that its steps take TMA boxes instead of the per-row gather.
//  near_full: the tiles whose kept rows fill at least 90% of K's 64-row steps;
//  all: every tile with kept rows (for row-major calls, tw_row_major_dense_pays): nothing
//   is gathered, so the wgmma kernel reads row-major A in place, without the Aᵀ copy.
enum class TwDenseTiles : int { near_full, all };

// Whether a row-major call of the wgmma kernel runs faster on the TwDenseTiles::all plan:
// K a multiple of 64 and every tile with kept rows keeping at least 45% of K's 64-row
// steps. Measured on the H200 (bench/NOTES.md, "eighth"): 5-29% faster at 30-75% on most
// BERT shapes, up to 8% slower on a few ffn1-like ones at 75-80%; with tiles at ~30% kept
// (90% sparsity) it lost as often as it gained, and the transposed layout loses wherever
// it would fire.
bool tw_row_major_dense_pays(const TwWeight& w);

// Whether a full row-major C of M rows (K the weight's rows) is written in the plan's
// windows (TwItem::window_begin). Measured on the H200 (bench/NOTES.md "ninth", 745
// row-major rows with and without): where it holds, the windows took up to 40% off
// (qkv- and ffn1-like shapes, K <= 1024 and N >= 3K, at 10-90%), against:
//  * items of 32 columns (G <= 32): 2-11% slower at 0-50%, windows of a few 8-column
//   groups whose partial first and last groups are stored element by element;
//  * K > 1024: C's bytes are a small share of the work (1/K per flop), and the rows
//   moved by -10% to +10%, most of them slower;
//  * fewer CTAs writing windows (items with a tile x 128-row blocks) than SMs: each
//   writes the columns of several SMs' share after its math (90% sparsity on N = 1024:
//   11-26% slower), where the pruned-column CTAs spread the same stores over the GPU.
bool tw_row_major_windows_pay(std::int64_t m, std::int64_t k, const TwPlanShape& plan, int sms);

// Throws Error (naming `op`) when K or N do not fit int32, or when `dense` is `all` for a
// packing or K it does not apply to (simt_rows, K not a multiple of 64).
TwHostPlan make_tw_plan(const TwWeight& w, TwPacking packing, const char* op,
                        TwDenseTiles dense = TwDenseTiles::near_full);

}  // namespace tilesparse::cuda

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

// The K rows some tile of w keeps, ascending: the columns of a row-major A a call reads.
std::vector<std::int32_t> tw_kept_k_rows(const TwWeight& w);
// w on those rows alone: K = rows.size() and each tile's kept rows renumbered to their
// places in `rows` (= tw_kept_k_rows(w)), so that A · w = A[:, rows] · the result. The
// plan of a row-major call whose pass copies only those columns of A (RowMajorPass).
TwWeight tw_on_kept_rows(const TwWeight& w, const std::vector<std::int32_t>& rows);

// Whether the row-major pass copies only the kept K rows (kept of k) into Aᵀ: where they
// are at most 85% of K. Measured on the H200 (bench/NOTES.md "tenth", the row-major
// sweep at 30-99%, C filled in both runs), geomean by kept share: under 10% of K 0.68x
// (ffn2 at 99%: 50.0 -> 34.8 µs), 20-60% 0.75-0.88x, 60-80% 0.93-0.97x, 80-90% 0.99x
// (0.94-1.02x); past 90% 1.003x, up to 4% slower (one 2-byte read per scattered column
// where nearly all are kept).
bool tw_copy_kept_rows_pays(std::int64_t k, std::int64_t kept);

// Whether the row-major pass fills a full row-major C (kept_columns of n kept) with
// activation(bias), so that the kernel writes only the tiles' columns: where at least
// half of the columns are pruned. Measured on the H200 (bench/NOTES.md "tenth"): where
// the windows do not fire, with under half of the columns kept the rows ran 0.48-1.03x
// (geomean 0.67x at 10-20% kept, 0.96x at 40-45%; qkv at 95% 57.8 -> 37.0 µs), the six
// slower ones by 1-3% (bert-base attn-out at 90-99%, ffn2-like shapes); with half or
// more kept, +-1% (C written twice costs what the scattered pruned columns save).
bool tw_fill_row_major_c_pays(std::int64_t n, std::int64_t kept_columns);

// Throws Error (naming `op`) when K or N do not fit int32, or when `dense` is `all` for a
// packing or K it does not apply to (simt_rows, K not a multiple of 64).
TwHostPlan make_tw_plan(const TwWeight& w, TwPacking packing, const char* op,
                        TwDenseTiles dense = TwDenseTiles::near_full);

}  // namespace tilesparse::cuda

// Host side of the TW kernels' device form (tw_plan.hpp). Compiled in every build.
#include "backends/cuda/tw_plan.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include "tilesparse/core/error.hpp"

namespace tilesparse::cuda {

namespace {

std::int64_t round_up(std::int64_t v, std::int64_t to) { return (v + to - 1) / to * to; }

// The kernels' steps of kTwRowBlock rows that `rows` kept rows take.
std::int64_t steps_of(std::int64_t rows) { return round_up(rows, kTwRowBlock) / kTwRowBlock; }

// TwItem::window_begin/window_end: the items with a tile, in the order of their first
// column, cut [0, n) at each one's first column (the first item's window starts at 0).
// Returns how many items have windows (TwPlanShape::window_items), 0 (and no windows)
// when the cut does not hold: an item's columns not increasing, or reaching into the
// next item's window, or a window wider than kTwMaxWindowBlocks column blocks of bn.
std::int32_t set_row_major_windows(std::vector<TwItem>& items, const std::vector<std::int32_t>& cols, std::int64_t n,
                                   int bn) {
  std::vector<TwItem*> tiled;
  for (TwItem& item : items)
    if (item.tile >= 0 && item.cols > 0) tiled.push_back(&item);
  const auto first_col = [&](const TwItem* item) { return cols[static_cast<std::size_t>(item->col_begin)]; };
  std::sort(tiled.begin(), tiled.end(), [&](const TwItem* a, const TwItem* b) { return first_col(a) < first_col(b); });
  bool cut = !tiled.empty();
  for (std::size_t i = 0; cut && i < tiled.size(); ++i) {
    const TwItem& item = *tiled[i];
    const std::int32_t* c = cols.data() + item.col_begin;
    for (std::int32_t j = 1; cut && j < item.cols; ++j) cut = c[j] > c[j - 1];
    const std::int64_t begin = i == 0 ? 0 : c[0], end = i + 1 < tiled.size() ? first_col(tiled[i + 1]) : n;
    cut = cut && c[item.cols - 1] < end && end - begin <= std::int64_t{kTwMaxWindowBlocks} * bn;
  }
  for (std::size_t i = 0; i < tiled.size(); ++i) {
    tiled[i]->window_begin = cut && i > 0 ? first_col(tiled[i]) : 0;
    tiled[i]->window_end = !cut ? 0 : i + 1 < tiled.size() ? first_col(tiled[i + 1]) : static_cast<std::int32_t>(n);
  }
  return cut ? static_cast<std::int32_t>(tiled.size()) : 0;
}

}  // namespace

int tw_column_block(std::int64_t g) { return g <= 32 ? 32 : g <= 64 ? 64 : 128; }

bool tw_row_major_dense_pays(const TwWeight& w) {
  if (w.k % kTwRowBlock != 0) return false;
  for (std::int64_t t = 0; t < w.tiles(); ++t) {
    const std::int64_t kept_steps = steps_of(w.kept_rows(t));
    if (kept_steps > 0 && 20 * kept_steps < 9 * steps_of(w.k)) return false;
  }
  return true;
}

TwHostPlan make_tw_plan(const TwWeight& w, TwPacking packing, const char* op, TwDenseTiles dense) {
  const int bn = tw_column_block(w.g);
  require(w.n < (std::int64_t{1} << 31) && w.k < (std::int64_t{1} << 31), op, "K and N must fit int32");
  require(dense == TwDenseTiles::near_full || (packing == TwPacking::wgmma_sw128 && w.k % kTwRowBlock == 0), op,
          "dense tiles need the wgmma packing and K a multiple of " + std::to_string(kTwRowBlock));

  std::vector<TwItem> items;
  std::vector<std::int32_t> rows, cols(w.col_map.begin(), w.col_map.end());
  std::vector<float> packed;
  for (std::int64_t t = 0; t < w.tiles(); ++t) {
    const std::int64_t tile_kept = w.kept_rows(t), width = w.tile_cols(t);
    // A tile that keeps nearly all of K runs as a dense tile of all K rows (zeros where it
    // prunes) on the wgmma kernel, whose tiles of consecutive rows take TMA boxes instead
    // of the per-row gather: when its kept rows fill at least 90% of the 64-row steps K
    // takes (a box step took ~0.89 of a gathered one, bench/NOTES.md), or always for
    // TwDenseTiles::all.
    const bool densify = packing == TwPacking::wgmma_sw128 && w.k % kTwRowBlock == 0 && tile_kept > 0 &&
                         (dense == TwDenseTiles::all || 10 * steps_of(tile_kept) >= 9 * steps_of(w.k));
    const std::int64_t kept = densify ? w.k : tile_kept, padded = round_up(kept, kTwRowBlock);
    const std::int64_t rows_offset = static_cast<std::int64_t>(rows.size());
    for (std::int64_t r = 0; r < padded; ++r)
      rows.push_back(densify ? static_cast<std::int32_t>(r) : r < kept ? w.row_idx[w.row_ptr[t] + r] : -1);
    // TwItem::run_start: checked row by row, as an in-memory weight need not be validated.
    bool run = kept > 0 && kept == padded;
    for (std::int64_t r = 1; run && r < kept; ++r) run = rows[rows_offset + r] == rows[rows_offset] + r;
    const std::int32_t run_start = run ? rows[rows_offset] : -1;
    // Slot r of the item's block holds the tile's kept row value_row[r] ([tile_kept][width]
    // values), or nothing (-1: a pruned row of a densified tile).
    std::vector<std::int64_t> value_row(static_cast<std::size_t>(kept), -1);
    for (std::int64_t r = 0; r < tile_kept; ++r) {
      const std::int64_t at = densify ? w.row_idx[w.row_ptr[t] + r] : r;
      require(at >= 0 && at < kept, op, "tile " + std::to_string(t) + " keeps a row outside [0, K)");
      value_row[static_cast<std::size_t>(at)] = r;
    }
    const float* tile = w.values.data() + w.value_ptr[t];  // [tile_kept][width]
    for (std::int64_t c0 = 0; c0 < width; c0 += bn) {
      const std::int64_t cols_here = std::min<std::int64_t>(bn, width - c0);
      const std::int64_t offset = static_cast<std::int64_t>(packed.size());
      packed.resize(packed.size() + static_cast<std::size_t>(padded * bn), 0.0f);
      float* block = packed.data() + offset;
      for (std::int64_t r = 0; r < kept; ++r) {
        const std::int64_t vr = value_row[static_cast<std::size_t>(r)];
        if (vr < 0) continue;
        for (std::int64_t j = 0; j < cols_here; ++j) {
          const float v = tile[vr * width + c0 + j];
          if (packing == TwPacking::simt_rows) {
            block[r * bn + j] = v;
          } else {  // per 64 kept rows a [bn][64] K-major image, 16-byte chunks XOR-swizzled by row
            const std::int64_t step = r / kTwRowBlock, rr = r % kTwRowBlock;
            block[step * bn * kTwRowBlock + j * kTwRowBlock + (((rr / 8) ^ (j % 8)) * 8) + rr % 8] = v;
          }
        }
      }
      items.push_back({static_cast<std::int32_t>(t * w.g + c0), static_cast<std::int32_t>(cols_here),
                       static_cast<std::int32_t>(kept), static_cast<std::int32_t>(t), rows_offset, offset, run_start, -1, 0, 0});
    }
  }
  // Output columns the weight prunes entirely: items without rows, so the kernel writes
  // epilogue(0) (or the TEW residual) there in the same launch.
  std::vector<bool> kept_column(static_cast<std::size_t>(w.n), false);
  for (const std::int32_t c : w.col_map) kept_column[c] = true;
  const std::int64_t first_pruned = static_cast<std::int64_t>(cols.size());
  for (std::int64_t c = 0; c < w.n; ++c)
    if (!kept_column[c]) cols.push_back(static_cast<std::int32_t>(c));
  for (std::int64_t c0 = first_pruned; c0 < w.n; c0 += bn)
    items.push_back({static_cast<std::int32_t>(c0), static_cast<std::int32_t>(std::min<std::int64_t>(bn, w.n - c0)), 0,
                     -1, 0, 0, -1, -1, 0, 0});
  for (TwItem& item : items) {  // TwItem::col_run
    const std::int32_t* c = cols.data() + item.col_begin;
    bool run = true;
    for (std::int32_t j = 1; run && j < item.cols; ++j) run = c[j] == c[0] + j;
    item.col_run = run ? c[0] : -1;
  }
  const std::int32_t window_items = set_row_major_windows(items, cols, w.n, bn);
  // Heaviest first: one launch, the long items start before the short ones. Stable, so
  // the tiles without kept rows stay ahead of the pruned-column items (window_items).
  std::stable_sort(items.begin(), items.end(), [](const TwItem& a, const TwItem& b) { return a.kept_rows > b.kept_rows; });
  // Each item with kept rows gets its tile's padded rows in a slot of its own
  // (kTwMinSlotSteps); the items are heaviest first, so the first slot is the widest.
  std::int64_t stride = kTwMinSlotSteps * kTwRowBlock;
  if (!items.empty()) stride = std::max(stride, round_up(items.front().kept_rows, kTwRowBlock));
  std::vector<std::int32_t> slots;
  for (std::size_t i = 0; i < items.size() && items[i].kept_rows > 0; ++i) {
    TwItem& item = items[i];
    const std::int64_t padded = round_up(item.kept_rows, kTwRowBlock), tile_rows = item.rows_offset;
    item.rows_offset = static_cast<std::int64_t>(i) * stride;
    slots.resize(slots.size() + static_cast<std::size_t>(stride), -1);
    std::copy_n(rows.begin() + tile_rows, padded, slots.begin() + item.rows_offset);
  }

  TwHostPlan plan;
  plan.bn = bn;
  plan.items = std::move(items);
  plan.rows = std::move(slots);
  plan.rows_stride = stride;
  plan.item_count = static_cast<std::int32_t>(plan.items.size());
  plan.window_items = window_items;
  plan.cols = std::move(cols);
  plan.values = std::move(packed);
  plan.has_run_items = std::any_of(plan.items.begin(), plan.items.end(), [](const TwItem& i) { return i.run_start >= 0; });
  plan.has_gathered_items =
      std::any_of(plan.items.begin(), plan.items.end(), [](const TwItem& i) { return i.kept_rows > 0 && i.run_start < 0; });
  for (const TwItem& i : plan.items) {
    if (i.kept_rows == 0) continue;
    ++plan.kept_items;
    plan.kept_steps += steps_of(i.kept_rows);
  }
  return plan;
}

std::vector<std::int32_t> tw_kept_k_rows(const TwWeight& w) {
  std::vector<bool> kept(static_cast<std::size_t>(w.k), false);
  for (const std::int32_t r : w.row_idx) {
    require(r >= 0 && r < w.k, "tw_kept_k_rows", "a tile keeps row " + std::to_string(r) + " outside [0, K)");
    kept[static_cast<std::size_t>(r)] = true;
  }
  std::vector<std::int32_t> rows;
  for (std::int64_t r = 0; r < w.k; ++r)
    if (kept[static_cast<std::size_t>(r)]) rows.push_back(static_cast<std::int32_t>(r));
  return rows;
}

TwWeight tw_on_kept_rows(const TwWeight& w, const std::vector<std::int32_t>& rows) {
  std::vector<std::int32_t> place(static_cast<std::size_t>(w.k), -1);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    require(rows[i] >= 0 && rows[i] < w.k, "tw_on_kept_rows", "row " + std::to_string(rows[i]) + " outside [0, K)");
    place[static_cast<std::size_t>(rows[i])] = static_cast<std::int32_t>(i);
  }
  TwWeight on = w;
  on.k = static_cast<std::int64_t>(rows.size());
  for (std::int32_t& r : on.row_idx) {
    r = r >= 0 && r < w.k ? place[static_cast<std::size_t>(r)] : -1;
    require(r >= 0, "tw_on_kept_rows", "a tile keeps a row the list does not hold");
  }
  return on;
}

bool tw_copy_kept_rows_pays(std::int64_t k, std::int64_t kept) { return kept > 0 && 20 * kept <= 17 * k; }

bool tw_fill_row_major_c_pays(std::int64_t n, std::int64_t kept_columns) { return 2 * kept_columns <= n; }

bool tw_row_major_windows_pay(std::int64_t m, std::int64_t k, const TwPlanShape& plan, int sms) {
  return plan.window_items > 0 && plan.bn >= 64 && k <= 1024 && (m + 127) / 128 * plan.window_items >= sms;
}

int tw_wgmma_row_block(std::int64_t m, std::int64_t kept_items, std::int64_t kept_steps, int sms) {
  const std::int64_t ctas64 = (m + 63) / 64 * kept_items;
  return kept_items > 0 && ctas64 <= 3 * static_cast<std::int64_t>(sms) && kept_steps >= 9 * kept_items ? 64 : 128;
}

}  // namespace tilesparse::cuda

// The TW kernels' plan (backends/cuda/tw_plan.cpp), checked without a device: every
// stored value lands where the kernels read it in both packings, every output column is
// covered once, the items are ordered as the launch expects, and run_start (the wgmma
// kernel's TMA path) is set exactly for tiles of consecutive kept rows filling whole
// 64-row steps.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "backends/cuda/tw_plan.hpp"
#include "format_test_util.hpp"
#include "tilesparse/formats/tw.hpp"
#include "tilesparse/prune/project.hpp"

namespace tilesparse::cuda {
namespace {

TwWeight random_tw(std::int64_t k, std::int64_t n, std::int64_t g, double sparsity, std::uint64_t seed) {
  PatternSpec spec;
  spec.pattern = Pattern::tw;
  spec.g = g;
  const HostMatrix w = HostMatrix::random(k, n, DType::f32, seed);
  return TwWeight::from_dense(w, project(magnitude_scores(w), spec, sparsity).mask, g);
}

// Value (kept-row slot r, item column j) of an item's block in the given packing.
float packed_value(const TwHostPlan& plan, const TwItem& item, TwPacking packing, std::int64_t r, std::int64_t j) {
  const std::int64_t bn = plan.bn;
  const float* block = plan.values.data() + item.values_offset;
  if (packing == TwPacking::simt_rows) return block[r * bn + j];
  const std::int64_t step = r / kTwRowBlock, rr = r % kTwRowBlock;
  return block[step * bn * kTwRowBlock + j * kTwRowBlock + (((rr / 8) ^ (j % 8)) * 8) + rr % 8];
}

// K x N rebuilt from the plan as the kernels read it; fails the test where a padding
// slot (row -1, or a column past the item's) holds a nonzero value.
HostMatrix rebuild(const TwHostPlan& plan, TwPacking packing, std::int64_t k, std::int64_t n) {
  HostMatrix out(k, n);
  for (const TwItem& item : plan.items) {
    const std::int64_t padded = (item.kept_rows + kTwRowBlock - 1) / kTwRowBlock * kTwRowBlock;
    for (std::int64_t r = 0; r < padded; ++r) {
      const std::int32_t row = plan.rows[static_cast<std::size_t>(item.rows_offset + r)];
      EXPECT_EQ(row < 0, r >= item.kept_rows) << "tile " << item.tile << " slot " << r;
      for (std::int64_t j = 0; j < plan.bn; ++j) {
        const float v = packed_value(plan, item, packing, r, j);
        if (row < 0 || j >= item.cols) {
          EXPECT_EQ(v, 0.0f) << "padding of tile " << item.tile << " at slot " << r << ", column " << j;
        } else {
          out.set(row, plan.cols[static_cast<std::size_t>(item.col_begin + j)], v);
        }
      }
    }
  }
  return out;
}

TEST(TwPlan, EveryValueLandsWhereTheKernelsReadIt) {
  struct Case {
    std::int64_t k, n, g;
    double sparsity;
  };
  for (const Case c : {Case{70, 45, 32, 0.6}, Case{200, 300, 64, 0.75}, Case{256, 257, 128, 0.0},
                       Case{130, 200, 200, 0.5}, Case{128, 96, 48, 0.99}}) {
    const TwWeight tw = random_tw(c.k, c.n, c.g, c.sparsity, static_cast<std::uint64_t>(c.k + c.n));
    for (const TwPacking packing : {TwPacking::simt_rows, TwPacking::wgmma_sw128}) {
      SCOPED_TRACE(testing::Message() << c.k << "x" << c.n << " G=" << c.g << " s=" << c.sparsity << " packing "
                                      << static_cast<int>(packing));
      const TwHostPlan plan = make_tw_plan(tw, packing, "test");
      EXPECT_EQ(plan.bn, tw_column_block(c.g));
      EXPECT_TRUE(rebuild(plan, packing, c.k, c.n) == tw.to_dense());
    }
  }
}

TEST(TwPlan, NearFullTilesRunDenseOnTheWgmmaPacking) {
  // K = 256 at 10%: tiles keep ~243 rows, 4 steps either way -> all 256 rows, zeros in the
  // pruned ones, one run from row 0; the mma.sync/CUDA-core packing keeps the gather.
  const TwWeight tw = random_tw(256, 200, 64, 0.1, 11);
  ASSERT_LT(tw.kept_rows(0), 256);
  const TwHostPlan wgmma = make_tw_plan(tw, TwPacking::wgmma_sw128, "test");
  const TwHostPlan simt = make_tw_plan(tw, TwPacking::simt_rows, "test");
  for (const TwItem& item : wgmma.items) {
    if (item.tile < 0) continue;
    EXPECT_EQ(item.kept_rows, 256);
    EXPECT_EQ(item.run_start, 0);
  }
  for (const TwItem& item : simt.items)
    if (item.tile >= 0) EXPECT_EQ(item.kept_rows, tw.kept_rows(item.tile));
  EXPECT_TRUE(rebuild(wgmma, TwPacking::wgmma_sw128, 256, 200) == tw.to_dense());
  // At 50% (~181 rows, 3 of 4 steps) the tiles stay gathered.
  const TwWeight half = random_tw(256, 200, 64, 0.5, 12);
  for (const TwItem& item : make_tw_plan(half, TwPacking::wgmma_sw128, "test").items)
    if (item.tile >= 0) EXPECT_EQ(item.kept_rows, half.kept_rows(item.tile));
}

TEST(TwPlan, RowMajorCallsRunEveryTileDenseWhereEachKeepsEnough) {
  // The shapes of GpuTw.RowMajorCallsRunEveryTileDenseWhereThatPays: tiles keep 60-75% of
  // K's 64-row steps, at least the 45% the rule asks.
  for (const TwWeight& tw : {random_tw(512, 256, 128, 0.5, 31), random_tw(256, 130, 32, 0.6, 32)}) {
    ASSERT_TRUE(tw_row_major_dense_pays(tw));
    const TwHostPlan plan = make_tw_plan(tw, TwPacking::wgmma_sw128, "test", TwDenseTiles::all);
    for (const TwItem& item : plan.items) {
      if (item.tile < 0) continue;
      EXPECT_EQ(item.kept_rows, tw.k);
      EXPECT_EQ(item.run_start, 0);
    }
    EXPECT_FALSE(plan.has_gathered_items);
    EXPECT_TRUE(rebuild(plan, TwPacking::wgmma_sw128, tw.k, tw.n) == tw.to_dense());
    // The default rule keeps these tiles gathered.
    EXPECT_TRUE(make_tw_plan(tw, TwPacking::wgmma_sw128, "test").has_gathered_items);
  }
  // At 90% (~31% of K = 1024 kept, 5 of 16 steps) the rule does not pay; nor for K not a
  // multiple of 64, where dense tiles are refused.
  EXPECT_FALSE(tw_row_major_dense_pays(random_tw(1024, 512, 128, 0.9, 33)));
  const TwWeight odd = random_tw(200, 130, 32, 0.5, 34);
  EXPECT_FALSE(tw_row_major_dense_pays(odd));
  EXPECT_THROW(make_tw_plan(odd, TwPacking::wgmma_sw128, "test", TwDenseTiles::all), Error);
  EXPECT_THROW(make_tw_plan(random_tw(256, 130, 32, 0.6, 35), TwPacking::simt_rows, "test", TwDenseTiles::all), Error);
}

TEST(TwPlan, KeptItemsAndStepsPickTheWgmmaRowBlock) {
  // The plan counts the items with kept rows and their padded steps.
  const TwWeight tw = random_tw(1000, 500, 100, 0.5, 21);
  const TwHostPlan plan = make_tw_plan(tw, TwPacking::wgmma_sw128, "test");
  std::int64_t items = 0, steps = 0;
  for (std::int64_t t = 0; t < tw.tiles(); ++t) {
    if (tw.kept_rows(t) == 0) continue;
    ++items;  // G = 100: one item of 128 columns per tile
    steps += (tw.kept_rows(t) + kTwRowBlock - 1) / kTwRowBlock;
  }
  EXPECT_EQ(plan.kept_items, items);
  EXPECT_EQ(plan.kept_steps, steps);
  EXPECT_LT(plan.kept_items, static_cast<std::int64_t>(plan.items.size()));  // pruned-column items are not counted

  // 64-row CTAs only when their grid fits in one wave of three per SM and items are long.
  const int sms = 132;
  EXPECT_EQ(tw_wgmma_row_block(4096, 6, 6 * 12, sms), 64);    // 384 CTAs, 12 steps
  EXPECT_EQ(tw_wgmma_row_block(4096, 6, 6 * 8, sms), 128);    // 8 steps
  EXPECT_EQ(tw_wgmma_row_block(4096, 7, 7 * 40, sms), 128);   // 448 CTAs: past one wave
  EXPECT_EQ(tw_wgmma_row_block(4160, 6, 6 * 12, sms), 64);    // 65 row blocks x 6 = 390 CTAs
  EXPECT_EQ(tw_wgmma_row_block(4225, 6, 6 * 12, sms), 128);   // 67 x 6 = 402
  EXPECT_EQ(tw_wgmma_row_block(4096, 0, 0, sms), 128);        // every column pruned
}

TEST(TwPlan, ItemsCoverEveryColumnOnceHeaviestFirst) {
  const TwWeight tw = random_tw(190, 333, 100, 0.7, 3);  // tiles of 100 columns: items of 100 (bn 128)
  const TwHostPlan plan = make_tw_plan(tw, TwPacking::wgmma_sw128, "test");
  ASSERT_EQ(plan.cols.size(), static_cast<std::size_t>(tw.n));
  EXPECT_TRUE(std::equal(tw.col_map.begin(), tw.col_map.end(), plan.cols.begin())) << "kept columns first, in tile order";
  std::vector<int> covered(static_cast<std::size_t>(tw.n), 0);
  for (std::size_t i = 0; i < plan.items.size(); ++i) {
    const TwItem& item = plan.items[i];
    EXPECT_GE(item.cols, 1);
    EXPECT_LE(item.cols, plan.bn);
    if (i > 0) EXPECT_GE(plan.items[i - 1].kept_rows, item.kept_rows) << "item " << i;
    if (item.tile < 0) {
      EXPECT_EQ(item.kept_rows, 0);
      EXPECT_EQ(item.run_start, -1);
      EXPECT_GE(item.col_begin, static_cast<std::int32_t>(tw.col_map.size())) << "pruned columns follow the kept ones";
    } else {
      EXPECT_EQ(item.kept_rows, tw.kept_rows(item.tile));
    }
    bool consecutive = true;
    for (std::int32_t j = 0; j < item.cols; ++j) {
      const std::int32_t col = plan.cols[static_cast<std::size_t>(item.col_begin + j)];
      ++covered[static_cast<std::size_t>(col)];
      consecutive = consecutive && col == plan.cols[static_cast<std::size_t>(item.col_begin)] + j;
    }
    EXPECT_EQ(item.col_run, consecutive ? plan.cols[static_cast<std::size_t>(item.col_begin)] : -1) << "item " << i;
  }
  EXPECT_TRUE(std::any_of(plan.items.begin(), plan.items.end(), [](const TwItem& i) { return i.kept_rows > 0 && i.col_run < 0; }))
      << "70%: some tile keeps columns with gaps between them";
  EXPECT_TRUE(std::all_of(covered.begin(), covered.end(), [](int c) { return c == 1; }));
  EXPECT_FALSE(plan.has_run_items) << "70% of scattered rows: no tile keeps a run of whole steps";
  EXPECT_TRUE(plan.has_gathered_items);
  EXPECT_EQ(plan.item_count, static_cast<std::int32_t>(plan.items.size()));
  EXPECT_LT(tw.col_map.size(), static_cast<std::size_t>(tw.n)) << "the case should prune whole columns";
}

TEST(TwPlan, TilesWiderThanTheColumnBlockSplitIntoItems) {
  EXPECT_EQ(tw_column_block(16), 32);
  EXPECT_EQ(tw_column_block(32), 32);
  EXPECT_EQ(tw_column_block(33), 64);
  EXPECT_EQ(tw_column_block(64), 64);
  EXPECT_EQ(tw_column_block(100), 128);
  EXPECT_EQ(tw_column_block(500), 128);
  const TwWeight tw = random_tw(64, 300, 300, 0.0, 5);  // one tile of 300 columns
  const TwHostPlan plan = make_tw_plan(tw, TwPacking::simt_rows, "test");
  ASSERT_EQ(plan.items.size(), 3u);
  EXPECT_EQ(plan.items[0].cols + plan.items[1].cols + plan.items[2].cols, 300);
  for (std::size_t i = 0; i < plan.items.size(); ++i) {
    EXPECT_EQ(plan.items[i].tile, 0);
    EXPECT_EQ(plan.items[i].rows_offset, static_cast<std::int64_t>(i) * plan.rows_stride) << "a slot per item";
  }
}

TEST(TwPlan, EachItemWithKeptRowsHasASlotAtItsIndex) {
  for (const TwPacking packing : {TwPacking::simt_rows, TwPacking::wgmma_sw128}) {
    for (const double sparsity : {0.3, 0.9, 0.99}) {
      const TwWeight tw = random_tw(700, 400, 64, sparsity, 31);
      const TwHostPlan plan = make_tw_plan(tw, packing, "test");
      ASSERT_GE(plan.rows_stride, kTwMinSlotSteps * kTwRowBlock);
      ASSERT_EQ(plan.rows_stride % kTwRowBlock, 0);
      std::size_t with_rows = 0;
      for (std::size_t i = 0; i < plan.items.size(); ++i) {
        const TwItem& item = plan.items[i];
        if (item.kept_rows == 0) continue;
        EXPECT_EQ(i, with_rows++) << "items with kept rows come first";
        EXPECT_EQ(item.rows_offset, static_cast<std::int64_t>(i) * plan.rows_stride);
        EXPECT_LE(item.kept_rows, plan.rows_stride);
        // The slot past the item's kept rows is -1, to its end (kernels may load the first
        // kTwMinSlotSteps steps' indices before they know how many the item has).
        for (std::int64_t r = item.kept_rows; r < plan.rows_stride; ++r)
          ASSERT_EQ(plan.rows[static_cast<std::size_t>(item.rows_offset + r)], -1) << "item " << i << " slot " << r;
      }
      EXPECT_EQ(plan.rows.size(), with_rows * static_cast<std::size_t>(plan.rows_stride));
    }
  }
}

// One column per tile (G = 1), K = 256; tile t keeps rows[t], values 1.
TwWeight hand_built(const std::vector<std::vector<std::int32_t>>& rows) {
  TwWeight w;
  w.k = 256;
  w.n = static_cast<std::int64_t>(rows.size());
  w.g = 1;
  w.row_ptr = {0};
  w.value_ptr = {0};
  for (std::size_t t = 0; t < rows.size(); ++t) {
    w.col_map.push_back(static_cast<std::int32_t>(t));
    w.row_idx.insert(w.row_idx.end(), rows[t].begin(), rows[t].end());
    w.row_ptr.push_back(static_cast<std::int64_t>(w.row_idx.size()));
    w.values.insert(w.values.end(), rows[t].size(), 1.0f);
    w.value_ptr.push_back(static_cast<std::int64_t>(w.values.size()));
  }
  return w;
}

std::vector<std::int32_t> consecutive(std::int32_t first, std::int32_t count) {
  std::vector<std::int32_t> v(static_cast<std::size_t>(count));
  for (std::int32_t i = 0; i < count; ++i) v[static_cast<std::size_t>(i)] = first + i;
  return v;
}

TEST(TwPlan, RunStartMarksTilesOfConsecutiveRowsInWholeSteps) {
  std::vector<std::int32_t> gap = consecutive(0, 64);  // 128 rows, 64 skipped
  for (std::int32_t r = 65; r <= 128; ++r) gap.push_back(r);
  std::vector<std::int32_t> unordered = consecutive(0, 128);  // the same rows as a run, out of order
  std::swap(unordered[0], unordered[1]);
  const TwWeight w = hand_built({consecutive(0, 256), consecutive(64, 128), consecutive(10, 100), gap, unordered});
  ASSERT_FALSE(w.validate().ok()) << "the out-of-order tile makes the weight invalid, as an unchecked one may be";
  const std::int32_t expected[] = {0, 64, -1, -1, -1};  // by tile
  for (const TwPacking packing : {TwPacking::simt_rows, TwPacking::wgmma_sw128}) {
    const TwHostPlan plan = make_tw_plan(w, packing, "test");
    ASSERT_EQ(plan.items.size(), 5u);
    EXPECT_TRUE(plan.has_run_items);
    EXPECT_TRUE(plan.has_gathered_items) << "three tiles are not runs";
    for (const TwItem& item : plan.items) EXPECT_EQ(item.run_start, expected[item.tile]) << "tile " << item.tile;
  }
  // All rows kept (every tile at 0% sparsity): every item runs from row 0, none is
  // gathered (row-major A then needs no Aᵀ copy on the wgmma kernel, tw_matmul.cpp).
  const TwHostPlan dense = make_tw_plan(random_tw(192, 130, 64, 0.0, 9), TwPacking::wgmma_sw128, "test");
  for (const TwItem& item : dense.items) {
    EXPECT_EQ(item.run_start, 0);
    EXPECT_EQ(item.col_run, item.col_begin) << "0%: the kept columns are all of N, in order";
  }
  EXPECT_TRUE(dense.has_run_items);
  EXPECT_FALSE(dense.has_gathered_items);
  // A weight pruned entirely keeps no rows: nothing runs, nothing is gathered.
  const TwHostPlan empty = make_tw_plan(random_tw(192, 130, 64, 1.0, 9), TwPacking::wgmma_sw128, "test");
  EXPECT_FALSE(empty.has_run_items);
  EXPECT_FALSE(empty.has_gathered_items);
}

// The row-major windows (TwItem::window_begin) of a plan with them: the first
// window_items items are those with a tile, their windows cut [0, N) into consecutive
// ranges, and each window holds its item's columns and otherwise only pruned ones.
void expect_windows_cut_the_columns(const TwHostPlan& plan, const TwWeight& tw) {
  ASSERT_GT(plan.window_items, 0);
  std::vector<int> owner(static_cast<std::size_t>(tw.n), -1);  // item index per column
  for (std::int32_t i = 0; i < plan.item_count; ++i) {
    const TwItem& item = plan.items[static_cast<std::size_t>(i)];
    EXPECT_EQ(item.tile >= 0, i < plan.window_items) << "item " << i;
    if (item.tile < 0) continue;
    ASSERT_LT(item.window_begin, item.window_end) << "item " << i;
    EXPECT_LE(item.window_end - item.window_begin, kTwMaxWindowBlocks * plan.bn);
    for (std::int32_t col = item.window_begin; col < item.window_end; ++col) {
      ASSERT_TRUE(col >= 0 && col < tw.n) << "item " << i << " window column " << col;
      EXPECT_EQ(owner[static_cast<std::size_t>(col)], -1) << "column " << col << " in two windows";
      owner[static_cast<std::size_t>(col)] = i;
    }
  }
  EXPECT_TRUE(std::all_of(owner.begin(), owner.end(), [](int o) { return o >= 0; })) << "every column in a window";
  std::vector<bool> kept(static_cast<std::size_t>(tw.n), false);
  for (const std::int32_t col : tw.col_map) kept[static_cast<std::size_t>(col)] = true;
  for (std::int32_t i = 0; i < plan.window_items; ++i) {
    const TwItem& item = plan.items[static_cast<std::size_t>(i)];
    std::int32_t own = 0;
    for (std::int32_t j = 0; j < item.cols; ++j) {
      const std::int32_t col = plan.cols[static_cast<std::size_t>(item.col_begin + j)];
      EXPECT_EQ(owner[static_cast<std::size_t>(col)], i) << "item " << i << " column " << col << " outside its window";
      if (j > 0) EXPECT_GT(col, plan.cols[static_cast<std::size_t>(item.col_begin + j - 1)]) << "item " << i;
    }
    for (std::int32_t col = item.window_begin; col < item.window_end; ++col) own += kept[static_cast<std::size_t>(col)];
    EXPECT_EQ(own, item.cols) << "item " << i << ": its window holds another item's kept column";
  }
}

TEST(TwPlan, RowMajorWindowsCutTheColumnsAmongTheItems) {
  struct Case {
    std::int64_t k, n, g;
    double sparsity;
  };
  // G 32/64/128/300 (items of 32, 64, 128 and tiles split into items), 0% (windows are
  // the runs), 90% (windows ~3 column blocks wide), N not a multiple of 8.
  for (const Case c : {Case{256, 333, 100, 0.7}, Case{128, 1000, 32, 0.5}, Case{192, 130, 64, 0.0},
                       Case{64, 4000, 128, 0.9}, Case{300, 900, 300, 0.6}, Case{128, 517, 64, 0.9}}) {
    const TwWeight tw = random_tw(c.k, c.n, c.g, c.sparsity, 41);
    ASSERT_TRUE(tw.validate().ok());
    for (const TwPacking packing : {TwPacking::simt_rows, TwPacking::wgmma_sw128}) {
      SCOPED_TRACE("N=" + std::to_string(c.n) + " G=" + std::to_string(c.g) + " s=" + std::to_string(c.sparsity));
      expect_windows_cut_the_columns(make_tw_plan(tw, packing, "test"), tw);
    }
  }
  // A tile with all rows pruned keeps its columns: it writes its window too.
  TwWeight emptied = hand_built({consecutive(0, 64), {}, consecutive(5, 3)});
  emptied.n = 10;
  emptied.col_map = {1, 4, 8};
  const TwHostPlan plan = make_tw_plan(emptied, TwPacking::wgmma_sw128, "test");
  expect_windows_cut_the_columns(plan, emptied);
  EXPECT_EQ(plan.window_items, 3);
}

TEST(TwPlan, RowMajorWindowsWhereTheyMeasuredFaster) {
  const int sms = 132;
  TwPlanShape plan;
  plan.bn = 128;
  plan.item_count = 24;
  plan.window_items = 12;
  EXPECT_TRUE(tw_row_major_windows_pay(4096, 1024, plan, sms));   // 32 x 12 = 384 CTAs with windows
  EXPECT_TRUE(tw_row_major_windows_pay(1408, 1024, plan, sms));   // 11 x 12 = 132: one per SM
  EXPECT_FALSE(tw_row_major_windows_pay(1280, 1024, plan, sms));  // 10 x 12 = 120
  EXPECT_TRUE(tw_row_major_windows_pay(1280, 1024, plan, 120));
  EXPECT_FALSE(tw_row_major_windows_pay(4096, 1025, plan, sms)) << "K past 1024";
  plan.bn = 32;
  EXPECT_FALSE(tw_row_major_windows_pay(4096, 1024, plan, sms)) << "items of 32 columns";
  plan.bn = 64;
  EXPECT_TRUE(tw_row_major_windows_pay(4096, 768, plan, sms));
  plan.window_items = 4;
  EXPECT_FALSE(tw_row_major_windows_pay(4096, 1024, plan, sms)) << "128 CTAs with windows on 132 SMs";
  plan.window_items = 0;
  EXPECT_FALSE(tw_row_major_windows_pay(4096, 1024, plan, sms)) << "a plan without windows";
}

TEST(TwPlan, NoWindowsWhereTheItemsDoNotCutTheColumns) {
  // Columns of two tiles interleaved (an unchecked weight): no window holds one item alone.
  TwWeight interleaved = hand_built({consecutive(0, 64), consecutive(0, 64)});
  interleaved.g = 2;
  interleaved.n = 4;
  interleaved.col_map = {0, 2};  // one tile of columns 0 and 2 ...
  interleaved.row_ptr = {0, 64};
  interleaved.value_ptr = {0, 128};
  interleaved.row_idx.resize(64);
  interleaved.values.assign(128, 1.0f);
  ASSERT_TRUE(interleaved.validate().ok());
  EXPECT_GT(make_tw_plan(interleaved, TwPacking::wgmma_sw128, "test").window_items, 0) << "one tile: its window";
  interleaved.col_map = {2, 0};  // ... whose columns are not increasing
  EXPECT_EQ(make_tw_plan(interleaved, TwPacking::wgmma_sw128, "test").window_items, 0);
  interleaved.g = 2;
  interleaved.row_ptr = {0, 64, 128};
  interleaved.value_ptr = {0, 128, 256};
  interleaved.row_idx.resize(128);
  interleaved.values.assign(256, 1.0f);
  interleaved.col_map = {0, 2, 1, 3};  // ... columns {0, 2} and {1, 3}: each increasing, reaching into the other
  EXPECT_EQ(make_tw_plan(interleaved, TwPacking::wgmma_sw128, "test").window_items, 0);
  // Windows wider than kTwMaxWindowBlocks column blocks: one column kept among 3000 (G
  // 1, blocks of 32), and 99% sparsity (G 128: ~1300 columns per item of 128).
  TwWeight wide = hand_built({consecutive(0, 64)});
  wide.n = 3000;
  wide.col_map = {2500};
  const TwHostPlan wide_plan = make_tw_plan(wide, TwPacking::wgmma_sw128, "test");
  EXPECT_EQ(wide_plan.window_items, 0);
  for (const TwItem& item : wide_plan.items) EXPECT_EQ(item.window_end, 0) << "no item has a window";
  EXPECT_EQ(make_tw_plan(random_tw(64, 4000, 128, 0.99, 41), TwPacking::wgmma_sw128, "test").window_items, 0);
  // Every column pruned: no item has a tile.
  EXPECT_EQ(make_tw_plan(random_tw(192, 130, 64, 1.0, 9), TwPacking::wgmma_sw128, "test").window_items, 0);
}

// A row-major call whose pass copies only the K rows the weight keeps runs the weight on
// those rows: the same product for A's kept columns, every plan rule unchanged.
TEST(TwPlan, TheWeightOnItsKeptRowsMultipliesTheKeptColumnsOfA) {
  for (const double sparsity : {0.5, 0.95, 0.99}) {
    const TwWeight w = random_tw(1024, 1000, 64, sparsity, 23);
    const std::vector<std::int32_t> rows = tw_kept_k_rows(w);
    std::vector<bool> kept(1024, false);
    for (const std::int32_t r : w.row_idx) kept[static_cast<std::size_t>(r)] = true;
    std::vector<std::int32_t> want;
    for (std::int32_t r = 0; r < 1024; ++r)
      if (kept[static_cast<std::size_t>(r)]) want.push_back(r);
    EXPECT_EQ(rows, want) << "the rows some tile keeps, ascending, each once";

    const TwWeight on = tw_on_kept_rows(w, rows);
    ASSERT_TRUE(on.validate().ok()) << on.validate().problem;
    ASSERT_EQ(on.k, static_cast<std::int64_t>(rows.size()));
    const HostMatrix full = w.to_dense(), restricted = on.to_dense();
    for (std::int64_t i = 0; i < on.k; ++i)
      for (std::int64_t j = 0; j < w.n; ++j)
        ASSERT_EQ(restricted(i, j), full(rows[static_cast<std::size_t>(i)], j)) << "row " << i << " column " << j;
    EXPECT_EQ(on.col_map, w.col_map);
    EXPECT_EQ(on.values, w.values);
  }
  // A list missing a kept row: refused, by name.
  const TwWeight w = random_tw(256, 200, 64, 0.9, 24);
  std::vector<std::int32_t> rows = tw_kept_k_rows(w);
  rows.pop_back();
  test::expect_error_mentioning([&] { (void)tw_on_kept_rows(w, rows); }, "tw_on_kept_rows");
  rows.push_back(256);  // past K
  test::expect_error_mentioning([&] { (void)tw_on_kept_rows(w, rows); }, "outside [0, K)");
}

TEST(TwPlan, TheRowMajorPassCopiesTheKeptRowsAndFillsCWhereThatPays) {
  EXPECT_TRUE(tw_copy_kept_rows_pays(1000, 850));
  EXPECT_FALSE(tw_copy_kept_rows_pays(1000, 851));
  EXPECT_FALSE(tw_copy_kept_rows_pays(1024, 0)) << "no kept row: nothing to copy";
  EXPECT_TRUE(tw_fill_row_major_c_pays(3072, 1536));
  EXPECT_FALSE(tw_fill_row_major_c_pays(3072, 1537));
}

}  // namespace
}  // namespace tilesparse::cuda

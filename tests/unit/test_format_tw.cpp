// Tile-wise format and projector: exact layout on a hand-built mask, round trips,
// serialization, rejection of malformed weights, the projector's properties (paper
// special cases included) and the reference matmul against the dense one.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>

#include "test_util.hpp"
#include "tilesparse/core/error.hpp"
#include "tilesparse/formats/weight.hpp"
#include "tilesparse/prune/project.hpp"

namespace tilesparse {
namespace {

PatternSpec tw_spec(std::int64_t g, double column_share = -1.0) {
  PatternSpec s;
  s.pattern = Pattern::tw;
  s.g = g;
  s.column_share = column_share;
  return s;
}

HostMatrix random_scores(std::int64_t k, std::int64_t n, std::uint64_t seed) {
  return magnitude_scores(HostMatrix::random(k, n, DType::f32, seed));
}

Mask project_tw(const HostMatrix& scores, std::int64_t g, double s, double column_share = -1.0) {
  return project(scores, tw_spec(g, column_share), s).mask;
}

void expect_error(const std::function<void()>& fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

void expect_invalid(const TwWeight& w, const std::string& needle) {
  const Validation v = w.validate();
  ASSERT_FALSE(v.ok()) << "expected a problem mentioning '" << needle << "'";
  EXPECT_NE(v.problem.find(needle), std::string::npos) << v.problem;
}

// K=6, N=7, G=2. Kept columns 0,2,3,5,6 -> tiles {0,2}, {3,5}, {6}; columns 1 and 4 empty.
// Tile 0 keeps rows 1,4; tile 1 all rows; tile 2 row 5.
Mask example_mask() {
  Mask m(6, 7, false);
  for (std::int64_t r : {1, 4})
    for (std::int64_t c : {0, 2}) m.set(r, c, true);
  for (std::int64_t r = 0; r < 6; ++r)
    for (std::int64_t c : {3, 5}) m.set(r, c, true);
  m.set(5, 6, true);
  return m;
}

TEST(TwFormat, LayoutOfAHandBuiltMask) {
  const HostMatrix w = HostMatrix::random(6, 7, DType::f32, 1);
  const TwWeight tw = TwWeight::from_dense(w, example_mask(), 2);
  ASSERT_TRUE(tw.validate().ok()) << tw.validate().problem;
  EXPECT_EQ(tw.col_map, (std::vector<std::int32_t>{0, 2, 3, 5, 6}));
  EXPECT_EQ(tw.tiles(), 3);
  EXPECT_EQ(tw.row_ptr, (std::vector<std::int64_t>{0, 2, 8, 9}));
  EXPECT_EQ(tw.row_idx, (std::vector<std::int32_t>{1, 4, 0, 1, 2, 3, 4, 5, 5}));
  EXPECT_EQ(tw.value_ptr, (std::vector<std::int64_t>{0, 4, 16, 17}));
  EXPECT_EQ(tw.tile_cols(2), 1);
  // Tile 0 block [2 rows][2 cols], row-major: (1,0) (1,2) (4,0) (4,2).
  EXPECT_EQ(tw.values[0], w(1, 0));
  EXPECT_EQ(tw.values[1], w(1, 2));
  EXPECT_EQ(tw.values[3], w(4, 2));
  // Tile 1 row 3 (its 4th row), column 5 (its 2nd column).
  EXPECT_EQ(tw.values[4 + 3 * 2 + 1], w(3, 5));
  EXPECT_EQ(tw.values[16], w(5, 6));
  EXPECT_EQ(tw.structure(), example_mask());
  EXPECT_EQ(tw.to_dense(), apply_mask(w, example_mask()));
  EXPECT_EQ(tw.bytes(), 17 * 4 + 5 * 4 + 4 * 8 + 9 * 4 + 4 * 8u);
}

// The rows of A a TW weight needs are the union of its tiles' kept rows: the roofline's
// activation bytes (perf::matmul_cost).
TEST(TwFormat, NonzeroRowsAreTheUnionOfTheTilesKeptRows) {
  const HostMatrix w = HostMatrix::random(6, 7, DType::f32, 1);
  Mask m(6, 7, false);  // tile 0 (columns 0, 2) keeps rows 1 and 4, tile 1 (column 6) row 4 and 5
  for (std::int64_t r : {1, 4})
    for (std::int64_t c : {0, 2}) m.set(r, c, true);
  for (std::int64_t r : {4, 5}) m.set(r, 6, true);
  const Weight tw = TwWeight::from_dense(w, m, 2);
  EXPECT_EQ(nonzero_rows(tw), 3);
  EXPECT_EQ(nonzero_rows(Weight(TwWeight::from_dense(w, Mask(6, 7, false), 2))), 0);
  // A dense weight: every row but an all-zero one; a NaN is not zero.
  HostMatrix d = HostMatrix::random(5, 3, DType::f32, 2);
  for (std::int64_t c = 0; c < 3; ++c) d.set(2, c, 0.0f);
  EXPECT_EQ(nonzero_rows(Weight(DenseWeight{d})), 4);
  d.set(2, 1, std::nanf(""));
  EXPECT_EQ(nonzero_rows(Weight(DenseWeight{d})), 5);
}

TEST(TwFormat, RoundTripsOnOddShapes) {
  const std::int64_t shapes[][3] = {{1, 1, 1}, {7, 5, 2}, {33, 17, 4}, {20, 6, 16}, {0, 5, 2}, {5, 0, 3}, {64, 40, 8}};
  for (DType dt : {DType::f32, DType::f16, DType::bf16}) {
    for (auto [k, n, g] : shapes) {
      const HostMatrix w = HostMatrix::random(k, n, dt, 3 + k * n);
      const Mask m = project_tw(random_scores(k, n, 5 + k), g, 0.6);
      const TwWeight tw = TwWeight::from_dense(w, m, g);
      ASSERT_TRUE(tw.validate().ok()) << tw.validate().problem;
      EXPECT_EQ(tw.to_dense(), apply_mask(w, m)) << k << "x" << n << " g" << g;
      EXPECT_EQ(tw.structure(), m);
      EXPECT_EQ(tw.kept(), nonzero_mask(apply_mask(w, m)).kept());
      const FormatArrays fa = tw.to_arrays();
      EXPECT_EQ(TwWeight::from_arrays(fa), tw);
      EXPECT_EQ(std::get<TwWeight>(weight_from_arrays(fa)), tw);
    }
  }
}

TEST(TwFormat, CheckMaskNamesTheTileWhoseColumnsDiffer) {
  Mask m = example_mask();
  m.set(2, 5, false);  // tile 1 = columns 3 and 5: column 5 now prunes row 2
  const Validation v = TwWeight::check_mask(m, 2);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.problem.find("tile 1 (kept columns 3..5): column 5 prunes row 2"), std::string::npos) << v.problem;
  expect_error([&] { TwWeight::from_dense(HostMatrix::random(6, 7, DType::f32, 2), m, 2); }, "tile 1");
  EXPECT_TRUE(TwWeight::check_mask(example_mask(), 2).ok());
  // With G=3 the same mask groups columns {0,2,3}: tile 0's columns no longer agree.
  EXPECT_NE(TwWeight::check_mask(example_mask(), 3).problem.find("tile 0"), std::string::npos);
}

TEST(TwFormat, ValidateRejectsCraftedViolations) {
  const TwWeight good = TwWeight::from_dense(HostMatrix::random(6, 7, DType::f16, 4), example_mask(), 2);
  TwWeight w = good;
  w.col_map[2] = 1;
  expect_invalid(w, "col_map[2] = 1 (tile 1) is not above col_map[1] = 2");
  w = good;
  w.col_map[4] = 7;
  expect_invalid(w, "col_map[4] = 7 (tile 2) is outside [0, 7)");
  w = good;
  w.col_map.push_back(7);
  w.col_map.push_back(8);
  w.col_map.push_back(9);
  expect_invalid(w, "more than n=7");
  w = good;
  w.row_ptr.pop_back();
  expect_invalid(w, "row_ptr has 3 entries, expected 4");
  w = good;
  w.row_ptr[2] = 20;
  expect_invalid(w, "row_ptr[2] = 20 exceeds");
  w = good;
  std::swap(w.row_idx[3], w.row_idx[4]);
  expect_invalid(w, "in tile 1 is not above the previous entry");
  w = good;
  w.row_idx[8] = 6;
  expect_invalid(w, "row_idx[8] = 6 in tile 2 is out of range [0, 6)");
  w = good;
  w.value_ptr[1] = 3;
  expect_invalid(w, "tile 0: value_ptr 0..3 does not hold its 2 x 2 block");
  w = good;
  w.value_ptr.push_back(17);
  expect_invalid(w, "value_ptr has 5 entries");
  w = good;
  w.values.push_back(0.0f);
  expect_invalid(w, "value_ptr ends at 17 but values has 18");
  w = good;
  w.values.pop_back();
  expect_invalid(w, "tile 2: value_ptr 16..17");
  w = good;
  w.g = 0;
  expect_invalid(w, "tile width g=0");
  w = good;
  w.values[0] = 0.1f;
  expect_invalid(w, "values[0] = 0.1");
  w = good;
  w.k = -1;
  expect_invalid(w, "k = -1");
}

TEST(TwFormat, TilesWithNoKeptRowsAreValid) {
  // A stored tile may keep no rows (its columns then hold zeros); it stays well formed.
  TwWeight w;
  w.k = 4;
  w.n = 3;
  w.g = 1;
  w.col_map = {0, 2};
  w.row_ptr = {0, 0, 2};
  w.row_idx = {1, 3};
  w.value_ptr = {0, 0, 2};
  w.values = {1.0f, -2.0f};
  ASSERT_TRUE(w.validate().ok()) << w.validate().problem;
  HostMatrix want(4, 3);
  want.set(1, 2, 1.0f);
  want.set(3, 2, -2.0f);
  EXPECT_EQ(w.to_dense(), want);
  test::expect_matches_dense(Weight(w), 5, 3);
}

TEST(TwFormat, FromArraysRejectsMalformedArrays) {
  const FormatArrays good = TwWeight::from_dense(HostMatrix::random(6, 7, DType::bf16, 4), example_mask(), 2).to_arrays();
  FormatArrays fa = good;
  fa.arrays["row_idx"] = Tensor::from_vector(std::vector<std::int64_t>(9), {9});
  expect_error([&] { TwWeight::from_arrays(fa); }, "row_idx");
  fa = good;
  fa.arrays.erase("col_map");
  expect_error([&] { TwWeight::from_arrays(fa); }, "col_map");
  fa = good;
  fa.meta.erase("g");
  expect_error([&] { TwWeight::from_arrays(fa); }, "'g'");
  fa = good;
  fa.arrays["values"] = Tensor::from_vector(std::vector<float>(17), {17});
  expect_error([&] { TwWeight::from_arrays(fa); }, "values");
  fa = good;
  fa.arrays["row_idx"] = Tensor::from_vector(std::vector<std::int32_t>{1, 4, 0, 1, 2, 3, 4, 5, 9}, {9});
  expect_error([&] { weight_from_arrays(fa); }, "row_idx[8] = 9 in tile 2");
}

// ---- projector -------------------------------------------------------------------------

TEST(TwProject, MeetsTheTargetWithinOneRowOfATileOnOddShapes) {
  const std::int64_t shapes[][3] = {{37, 29, 8}, {16, 5, 8}, {9, 40, 3}, {1, 1, 1}, {50, 7, 7}, {64, 64, 16}};
  for (auto [k, n, g] : shapes)
    for (double s : {0.0, 0.1, 0.5, 0.75, 0.9, 0.99, 1.0})
      for (double share : {-1.0, 0.0, 0.3, 1.0}) {
        const HostMatrix scores = random_scores(k, n, 17 + k + n);
        const Mask m = project_tw(scores, g, s, share);
        ASSERT_TRUE(validate_mask(m, tw_spec(g, share)).ok()) << validate_mask(m, tw_spec(g, share)).problem;
        const double target = std::llround((1.0 - s) * static_cast<double>(k * n));
        EXPECT_LE(std::fabs(static_cast<double>(m.kept()) - target), static_cast<double>(std::min(g, n)))
            << k << "x" << n << " g" << g << " s" << s << " share" << share;
        const TwWeight tw = TwWeight::from_dense(HostMatrix::random(k, n, DType::f32, 2), m, g);
        EXPECT_TRUE(tw.validate().ok());
        EXPECT_EQ(project_tw(scores, g, s, share), m) << "not deterministic";
      }
}

TEST(TwProject, ZeroAndFullSparsity) {
  const HostMatrix scores = random_scores(13, 11, 3);
  EXPECT_EQ(project_tw(scores, 4, 0.0).kept(), 13 * 11);
  for (double share : {-1.0, 0.0, 1.0}) {
    const Mask m = project_tw(scores, 4, 1.0, share);
    EXPECT_EQ(m.kept(), 0) << share;
    const TwWeight tw = TwWeight::from_dense(HostMatrix::random(13, 11, DType::f16, 1), m, 4);
    EXPECT_EQ(tw.tiles(), 0);
    EXPECT_TRUE(tw.validate().ok());
    EXPECT_EQ(tw.kept(), 0);
  }
  EXPECT_EQ(project_tw(HostMatrix(0, 5), 2, 0.5).kept(), 0);
}

TEST(TwProject, EvenSplitPrunesColumnsFirstThenDifferentRowsPerTile) {
  const std::int64_t k = 64, n = 48, g = 8;
  const double s = 0.75;
  const Mask m = project_tw(random_scores(k, n, 8), g, s);
  // Columns: s_c = 1 - sqrt(0.25) = 0.5 -> 24 columns pruned before any row.
  std::int64_t empty_cols = 0;
  for (std::int64_t c = 0; c < n; ++c) {
    bool any = false;
    for (std::int64_t r = 0; r < k; ++r) any = any || m(r, c);
    empty_cols += !any;
  }
  EXPECT_GE(empty_cols, 24);
  const TwWeight tw = TwWeight::from_dense(HostMatrix::random(k, n, DType::f32, 1), m, g);
  std::vector<std::int64_t> rows;
  for (std::int64_t t = 0; t < tw.tiles(); ++t) rows.push_back(tw.kept_rows(t));
  EXPECT_NE(*std::min_element(rows.begin(), rows.end()), *std::max_element(rows.begin(), rows.end()))
      << "one global threshold should leave tiles with different row counts";
}

TEST(TwProject, TileWithNoKeptRowsDisappearsFromTheFormat) {
  // Columns 2 and 3 (tile 1 with G=2, no column pruning) score far below the rest, so
  // every row of that tile is pruned first.
  HostMatrix scores = random_scores(8, 6, 4);
  for (std::int64_t r = 0; r < 8; ++r)
    for (std::int64_t c : {2, 3}) scores.set(r, c, 1e-6f * static_cast<float>(r + 1));
  for (std::int64_t r = 0; r < 8; ++r)
    for (std::int64_t c : {0, 1, 4, 5}) scores.set(r, c, 1.0f + scores(r, c));
  const Mask m = project_tw(scores, 2, 8.0 * 2 / 48, 0.0);
  for (std::int64_t r = 0; r < 8; ++r) EXPECT_FALSE(m(r, 2) || m(r, 3));
  EXPECT_EQ(m.kept(), 32);
  const TwWeight tw = TwWeight::from_dense(HostMatrix::random(8, 6, DType::f32, 1), m, 2);
  EXPECT_EQ(tw.col_map, (std::vector<std::int32_t>{0, 1, 4, 5}));
  EXPECT_TRUE(tw.validate().ok());
}

// Every index in `kept` has a higher mean than every other index below `count`.
void expect_kept_rank_above_pruned(std::int64_t count, const std::vector<std::int64_t>& kept,
                                   const std::function<double(std::int64_t)>& mean) {
  double min_kept = INFINITY, max_pruned = -INFINITY;
  for (std::int64_t i = 0; i < count; ++i) {
    if (std::find(kept.begin(), kept.end(), i) != kept.end())
      min_kept = std::min(min_kept, mean(i));
    else
      max_pruned = std::max(max_pruned, mean(i));
  }
  EXPECT_LT(max_pruned, min_kept);
}

// G >= N: one tile spans every surviving column, so TW is global column pruning then
// global row pruning: the mask is (kept rows) x (kept columns), the kept columns are the
// best by column mean, and the kept rows the best by mean over the kept columns.
TEST(TwProject, OneTileEqualsGlobalRowAndColumnPruning) {
  const std::int64_t k = 30, n = 21;
  const HostMatrix scores = random_scores(k, n, 12);
  for (std::int64_t g : {21, 64})
    for (double s : {0.3, 0.6, 0.9}) {
      const Mask m = project_tw(scores, g, s);
      std::vector<std::int64_t> rows, cols;
      for (std::int64_t r = 0; r < k; ++r)
        for (std::int64_t c = 0; c < n; ++c)
          if (m(r, c)) {
            if (std::find(rows.begin(), rows.end(), r) == rows.end()) rows.push_back(r);
            if (std::find(cols.begin(), cols.end(), c) == cols.end()) cols.push_back(c);
          }
      ASSERT_EQ(m.kept(), static_cast<std::int64_t>(rows.size() * cols.size())) << "not a product of rows and columns";
      // Columns: floor((1 - sqrt(1 - s)) N) pruned, all with lower means than every kept one.
      const auto pruned_cols = static_cast<std::int64_t>(std::floor((1.0 - std::sqrt(1.0 - s)) * n + 1e-9));
      EXPECT_EQ(static_cast<std::int64_t>(cols.size()), n - pruned_cols);
      auto col_mean = [&](std::int64_t c) {
        double sum = 0;
        for (std::int64_t r = 0; r < k; ++r) sum += scores(r, c);
        return sum / k;
      };
      auto row_mean = [&](std::int64_t r) {
        double sum = 0;
        for (std::int64_t c : cols) sum += scores(r, c);
        return sum / static_cast<double>(cols.size());
      };
      expect_kept_rank_above_pruned(n, cols, col_mean);
      expect_kept_rank_above_pruned(k, rows, row_mean);
    }
}

TEST(TwProject, TileWidthOneWithoutColumnPruningEqualsElementPruning) {
  for (auto [k, n] : {std::pair<std::int64_t, std::int64_t>{17, 23}, {64, 8}, {1, 9}})
    for (double s : {0.0, 0.25, 0.5, 0.8, 1.0}) {
      const HostMatrix scores = random_scores(k, n, 31 + k);
      PatternSpec ew;
      ew.pattern = Pattern::ew;
      EXPECT_EQ(project_tw(scores, 1, s, 0.0), project(scores, ew, s).mask) << k << "x" << n << " s" << s;
    }
}

TEST(TwMatmul, MatchesDenseForEveryDtypeAndOddShapes) {
  const std::int64_t shapes[][4] = {{7, 96, 40, 16}, {1, 1, 1, 1}, {5, 33, 17, 4}, {3, 20, 6, 16}, {4, 0, 6, 2}, {4, 6, 0, 2}, {9, 50, 7, 3}};
  for (DType dt : {DType::f32, DType::f16, DType::bf16})
    for (auto [m, k, n, g] : shapes) {
      const HostMatrix w = HostMatrix::random(k, n, dt, 5 + k + n);
      const Mask mask = project_tw(random_scores(k, n, 6 + k), g, 0.5);
      test::expect_matches_dense(Weight(TwWeight::from_dense(w, mask, g)), m, 21 + m);
    }
}

}  // namespace
}  // namespace tilesparse

// Block-sparse (BSR of Wᵀ) format: layout, round trips with zero-padded edge blocks,
// serialization, rejection of mixed blocks and corrupt arrays, the block projector
// (mean scores, target met within one block), and the reference matmul.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "format_test_util.hpp"
#include "tilesparse/prune/project.hpp"

namespace tilesparse {
namespace {

using test::expect_error_mentioning;
using test::expect_problem;

PatternSpec bw_spec(std::int64_t bk, std::int64_t bn) {
  return PatternSpec::from_params("bw", {{"bk", std::to_string(bk)}, {"bn", std::to_string(bn)}});
}

// Each bk x bn block (clipped to the matrix) kept whole with probability p.
Mask random_block_mask(std::int64_t k, std::int64_t n, std::int64_t bk, std::int64_t bn, double p,
                       std::uint64_t seed) {
  const Mask blocks = test::random_mask((k + bk - 1) / bk, (n + bn - 1) / bn, p, seed);
  Mask m(k, n, false);
  for (std::int64_t r = 0; r < k; ++r)
    for (std::int64_t c = 0; c < n; ++c) m.set(r, c, blocks(r / bk, c / bn));
  return m;
}

// K=5, N=3 with 2x2 blocks: block (kb=0, nb=1) and the corner block (kb=2, nb=0) kept.
BwWeight small_weight() {
  const HostMatrix w = HostMatrix::random(5, 3, DType::f32, 2);
  Mask m(5, 3, false);
  for (std::int64_t r = 0; r < 2; ++r) m.set(r, 2, true);
  for (std::int64_t c = 0; c < 2; ++c) m.set(4, c, true);
  return BwWeight::from_dense(w, m, 2, 2);
}

TEST(BwFormat, LayoutIsBsrOfTransposeWithZeroPadding) {
  const HostMatrix w = HostMatrix::random(5, 3, DType::f32, 2);
  const BwWeight b = small_weight();
  EXPECT_EQ(b.row_ptr, (std::vector<std::int64_t>{0, 1, 2}));  // block rows over N: {0,1}, {2}
  EXPECT_EQ(b.kb_idx, (std::vector<std::int32_t>{2, 0}));
  // Block (kb=2, nb=0): [jn][jk] = W[4 + jk][jn]; row 5 lies past K -> zero.
  EXPECT_EQ(b.values[0], w(4, 0));
  EXPECT_EQ(b.values[1], 0.0f);
  EXPECT_EQ(b.values[2], w(4, 1));
  EXPECT_EQ(b.values[3], 0.0f);
  // Block (kb=0, nb=1): column 3 lies past N -> its row of Wᵀ is zero.
  EXPECT_EQ(b.values[4], w(0, 2));
  EXPECT_EQ(b.values[5], w(1, 2));
  EXPECT_EQ(b.values[6], 0.0f);
  EXPECT_EQ(b.values[7], 0.0f);
  EXPECT_EQ(b.kept(), 4);
  EXPECT_EQ(b.bytes(), 8 * 4 + 3 * 8 + 2 * 4u);
}

TEST(BwFormat, RoundTripsEveryDtypeAndOddShape) {
  for (DType dt : test::kAllDTypes) {
    for (auto [k, n, bk, bn] : {std::tuple{96, 40, 8, 16}, {7, 96, 4, 32}, {37, 5, 3, 8}, {1, 1, 32, 32},
                                {0, 9, 4, 4}, {9, 0, 4, 4}, {12, 12, 1, 1}}) {
      const HostMatrix w = HostMatrix::random(k, n, dt, 41);
      const Mask mask = random_block_mask(k, n, bk, bn, 0.4, 42);
      const BwWeight b = BwWeight::from_dense(w, mask, bk, bn);
      test::expect_round_trips(b, w, mask);
      EXPECT_EQ(b.to_arrays().arrays.at("values").shape, (std::vector<std::int64_t>{b.blocks(), bn, bk}));
    }
  }
}

TEST(BwFormat, CheckMaskNamesTheFirstMixedBlock) {
  Mask m = random_block_mask(10, 20, 4, 8, 0.5, 3);
  EXPECT_TRUE(BwWeight::check_mask(m, 4, 8));
  m.set(5, 17, !m(5, 17));
  expect_problem(BwWeight::check_mask(m, 4, 8), "block (kb=1, nb=2) at rows 4..7, columns 16..19");
  expect_problem(validate_mask(m, bw_spec(4, 8)), "kept whole or pruned whole");
  const HostMatrix w = HostMatrix::random(10, 20, DType::f16, 4);
  expect_error_mentioning([&] { BwWeight::from_dense(w, m, 4, 8); }, "block (kb=1, nb=2)");
  // An edge block counts only its in-matrix elements: fully kept, it is whole.
  Mask edge(10, 20, false);
  for (std::int64_t r = 8; r < 10; ++r)
    for (std::int64_t c = 16; c < 20; ++c) edge.set(r, c, true);
  EXPECT_TRUE(BwWeight::check_mask(edge, 4, 8));
  expect_problem(BwWeight::check_mask(edge, 0, 8), "block sides");
}

TEST(BwFormat, ValidateNamesCorruptArrays) {
  auto broken = [](auto edit) {
    BwWeight b = small_weight();
    edit(b);
    return b.validate();
  };
  expect_problem(broken([](BwWeight& b) { b.row_ptr.push_back(2); }), "row_ptr has 4 entries, expected 3");
  expect_problem(broken([](BwWeight& b) { b.row_ptr[2] = 0; }), "row_ptr decreases at block row 1");
  expect_problem(broken([](BwWeight& b) { b.row_ptr[1] = 3; }), "row_ptr[1] = 3 exceeds the 2 entries of kb_idx");
  expect_problem(broken([](BwWeight& b) { b.kb_idx[1] = 3; }), "kb_idx[1] = 3 in block row 1 is out of range [0, 3)");
  expect_problem(broken([](BwWeight& b) {
                   b.row_ptr = {0, 2, 2};
                   b.kb_idx = {2, 0};
                 }),
                 "kb_idx[1] = 0 in block row 0 is not above the previous entry 2");
  expect_problem(broken([](BwWeight& b) { b.values.pop_back(); }), "values has 7 entries, expected blocks x bn x bk");
  expect_problem(broken([](BwWeight& b) { b.values[1] = 1.0f; }), "padding of stored block 0");
  expect_problem(broken([](BwWeight& b) { b.values[7] = -1.0f; }), "edge blocks must be zero-padded");
  expect_problem(broken([](BwWeight& b) { b.bn = 0; }), "block sides");
  expect_problem(broken([](BwWeight& b) { b.n = -3; }), "n = -3");
}

TEST(BwFormat, FromArraysChecksTypesAndShapes) {
  const FormatArrays good = small_weight().to_arrays();
  EXPECT_EQ(good.meta.at("bk"), "2");
  EXPECT_EQ(good.meta.at("bn"), "2");
  auto with = [&](auto edit) {
    FormatArrays fa = good;
    edit(fa);
    return [fa] { BwWeight::from_arrays(fa); };
  };
  expect_error_mentioning(with([](FormatArrays& fa) { fa.meta["bk"] = "0"; }), "block sides");
  expect_error_mentioning(with([](FormatArrays& fa) { fa.meta.erase("bn"); }), "missing metadata key 'bn'");
  expect_error_mentioning(with([](FormatArrays& fa) { fa.meta["bk"] = "4"; }),
                          "array 'values' has shape [2x2x2], expected [2x2x4]");
  expect_error_mentioning(with([](FormatArrays& fa) { fa.meta["n"] = "5"; }), "array 'row_ptr' has shape [3], expected [4]");
  expect_error_mentioning(with([](FormatArrays& fa) { fa.arrays["kb_idx"].type = ElemType::u32; }), "element type U32");
  FormatArrays padded = good;
  padded.arrays["values"] = Tensor::from_vector(std::vector<float>(8, 1.0f), {2, 2, 2});
  expect_error_mentioning([&] { weight_from_arrays(padded); }, "zero-padded");
}

TEST(BwProjector, MeetsTheTargetWithinOneBlockAndValidates) {
  for (auto [k, n, bk, bn] : {std::tuple{96, 40, 8, 16}, {37, 29, 4, 8}, {7, 96, 4, 32}, {5, 3, 32, 32}}) {
    const HostMatrix scores = magnitude_scores(HostMatrix::random(k, n, DType::f32, 51));
    const PatternSpec spec = bw_spec(bk, bn);
    for (double s : {0.0, 0.3, 0.5, 0.75, 0.95, 1.0}) {
      const Mask m = project(scores, spec, s).mask;
      ASSERT_TRUE(validate_mask(m, spec)) << validate_mask(m, spec).problem;
      EXPECT_LE(std::fabs(m.sparsity() - s) * k * n, static_cast<double>(bk * bn)) << k << "x" << n << " s=" << s;
      EXPECT_EQ(project(scores, spec, s).mask, m);
    }
  }
}

TEST(BwProjector, RanksBlocksByMeanSoEdgeBlocksCompeteFairly) {
  // K=6 with bk=4: the edge block (rows 4..5) has the highest mean but the lowest sum.
  HostMatrix scores(6, 4, DType::f32);
  for (std::int64_t r = 0; r < 6; ++r)
    for (std::int64_t c = 0; c < 4; ++c) scores.set(r, c, r < 4 ? 0.5f : 0.9f);
  const Mask m = project(scores, bw_spec(4, 4), 0.5).mask;  // target 12 of 24: prune the full block
  for (std::int64_t r = 0; r < 6; ++r) EXPECT_EQ(m(r, 0), r >= 4) << r;
}

TEST(BwMatmul, MatchesDenseForEveryDtypeAndOddShape) {
  for (DType dt : test::kAllDTypes) {
    for (auto [k, n, bk, bn] : {std::tuple{96, 40, 8, 16}, {37, 5, 4, 8}, {1, 1, 4, 4}, {0, 8, 4, 4},
                                {8, 0, 4, 4}}) {
      const Weight w = prune_magnitude(HostMatrix::random(k, n, dt, 61), bw_spec(bk, bn), 0.6);
      ASSERT_TRUE(validate(w));
      test::expect_matches_dense(w, 7, 62);
      test::expect_matches_dense(w, 1, 63);
    }
  }
}

}  // namespace
}  // namespace tilesparse

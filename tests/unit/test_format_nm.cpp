// General N:M format (element, vector and block units): the packed 4/8-bit index
// layout checked by hand, round trips over a grid of patterns and odd shapes (partial
// last group, partial column unit), rejection of bad masks and corrupt arrays, the
// projector, and the reference matmul.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "format_test_util.hpp"
#include "tilesparse/prune/project.hpp"

namespace tilesparse {
namespace {

using test::expect_error_mentioning;
using test::expect_problem;

PatternSpec nm_spec(int keep, int group, const std::string& unit = "element", int side = 1) {
  std::map<std::string, std::string> kv{{"n", std::to_string(keep)}, {"m", std::to_string(group)}, {"unit", unit}};
  if (unit == "vector") kv["v"] = std::to_string(side);
  if (unit == "block") kv["b"] = std::to_string(side);
  return PatternSpec::from_params("nm", kv);
}

const std::vector<PatternSpec>& spec_grid() {
  static const std::vector<PatternSpec> grid = {
      nm_spec(2, 4),  nm_spec(1, 3),  nm_spec(3, 8, "vector", 3), nm_spec(2, 4, "block", 2), nm_spec(5, 32),
      nm_spec(1, 256), nm_spec(7, 16, "vector", 4), nm_spec(2, 8, "block", 3), nm_spec(16, 17)};
  return grid;
}

const std::vector<std::pair<std::int64_t, std::int64_t>> kShapes = {{96, 40}, {37, 7}, {13, 2}, {1, 1}, {0, 5}, {5, 0}};

// Every group keeps a random number (0..min(keep, units)) of random whole units.
Mask random_nm_mask(std::int64_t k, std::int64_t n, const PatternSpec& s, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  const std::int64_t ur = s.unit_rows(), uc = s.unit_cols();
  Mask m(k, n, false);
  for (std::int64_t g0 = 0; g0 < k; g0 += s.group * ur) {
    const int units = static_cast<int>(std::min<std::int64_t>(s.group, (k - g0 + ur - 1) / ur));
    for (std::int64_t c0 = 0; c0 < n; c0 += uc) {
      std::vector<int> offsets(units);
      std::iota(offsets.begin(), offsets.end(), 0);
      std::shuffle(offsets.begin(), offsets.end(), gen);
      const int want = static_cast<int>(gen() % (std::min(s.keep, units) + 1));
      for (int t = 0; t < want; ++t)
        for (std::int64_t r = g0 + offsets[t] * ur; r < std::min(k, g0 + (offsets[t] + 1) * ur); ++r)
          for (std::int64_t c = c0; c < std::min(n, c0 + uc); ++c) m.set(r, c, true);
    }
  }
  return m;
}

// K=8, N=3, 2:4 element. Kept rows: column 0 {1, 3 | 6}, column 1 {2 | -},
// column 2 {0, 1 | 5, 7} ('|' separates the two groups).
struct Example {
  HostMatrix w = HostMatrix::random(8, 3, DType::f16, 7);
  NmWeight nm;
  Example() {
    Mask m(8, 3, false);
    for (auto [r, c] : {std::pair{1, 0}, {3, 0}, {6, 0}, {2, 1}, {0, 2}, {1, 2}, {5, 2}, {7, 2}}) m.set(r, c, true);
    nm = NmWeight::from_dense(w, m, nm_spec(2, 4));
  }
};

TEST(NmFormat, PackedFourBitLayoutMatchesHandComputedBytes) {
  const Example ex;
  const NmWeight& nm = ex.nm;
  EXPECT_EQ(nm.groups(), 2);
  EXPECT_EQ(nm.slots(), 4);
  EXPECT_EQ(nm.index_bits, 4);
  EXPECT_EQ(nm.row_bytes(), 2);
  // Offsets per slot (column 0, 1, 2); spare slots take the smallest unused offsets,
  // low nibble first, the odd column unit leaves a zero high nibble.
  //   slot 0: 1 0 0   slot 1: 3 2 1   slot 2: 0 0 1   slot 3: 2 1 3
  EXPECT_EQ(nm.indices, (std::vector<std::uint8_t>{0x01, 0x00, 0x23, 0x01, 0x00, 0x01, 0x12, 0x03}));
  const HostMatrix& w = ex.w;
  EXPECT_EQ(nm.values, (std::vector<float>{w(1, 0), 0, w(0, 2), w(3, 0), w(2, 1), w(1, 2), 0, 0, w(5, 2), w(6, 0), 0,
                                           w(7, 2)}));
  EXPECT_EQ(nm.index(3, 2), 3);
  EXPECT_EQ(nm.kept(), 8);
  EXPECT_EQ(nm.bytes(), 12 * 2 + 8u);
}

TEST(NmFormat, EightBitIndicesAndBlockUnits) {
  // 3:32 element, K=40: one full group and a partial one of 8 units; one byte per index.
  const HostMatrix w = HostMatrix::random(40, 2, DType::f32, 8);
  Mask m(40, 2, false);
  m.set(31, 0, true);
  m.set(35, 1, true);
  const NmWeight nm = NmWeight::from_dense(w, m, nm_spec(3, 32));
  EXPECT_EQ(nm.index_bits, 8);
  EXPECT_EQ(nm.row_bytes(), 2);
  EXPECT_EQ(nm.indices, (std::vector<std::uint8_t>{0, 0, 1, 1, 31, 2,  // group 0: col 0 {0,1,31}, col 1 {0,1,2}
                                                   0, 0, 1, 1, 2, 3}));  // group 1: col 1 keeps offset 3
  EXPECT_EQ(nm.values[2 * 2 + 0], w(31, 0));
  EXPECT_EQ(nm.values[5 * 2 + 1], w(35, 1));
  // 1:2 blocks of 2 on K=3, N=3: unit rows 2..3 straddle K, column unit 1 is one column wide.
  const HostMatrix w2 = HostMatrix::random(3, 3, DType::f32, 9);
  Mask m2(3, 3, false);
  for (std::int64_t c = 0; c < 2; ++c) m2.set(2, c, true);
  const NmWeight b = NmWeight::from_dense(w2, m2, nm_spec(1, 2, "block", 2));
  EXPECT_EQ(b.values.size(), 1u * 2 * 3);  // one slot of 2 rows x N
  EXPECT_EQ(b.indices, (std::vector<std::uint8_t>{0x01}));
  EXPECT_EQ(b.values, (std::vector<float>{w2(2, 0), w2(2, 1), 0, 0, 0, 0}));
}

TEST(NmFormat, RoundTripsEveryPatternDtypeAndOddShape) {
  for (DType dt : test::kAllDTypes) {
    for (const PatternSpec& spec : spec_grid()) {
      for (auto [k, n] : kShapes) {
        SCOPED_TRACE(spec.describe() + " " + std::to_string(k) + "x" + std::to_string(n));
        const HostMatrix w = HostMatrix::random(k, n, dt, 71);
        const Mask mask = random_nm_mask(k, n, spec, 72);
        ASSERT_TRUE(NmWeight::check_mask(mask, spec));
        const NmWeight nm = NmWeight::from_dense(w, mask, spec);
        test::expect_round_trips(nm, w, mask);
        EXPECT_EQ(spec_of(Weight(nm)), spec);
      }
    }
  }
}

TEST(NmFormat, CheckMaskNamesTheOffendingGroupOrUnit) {
  Mask m = random_nm_mask(12, 5, nm_spec(2, 4), 5);
  for (std::int64_t r = 4; r < 7; ++r) m.set(r, 2, true);
  expect_problem(NmWeight::check_mask(m, nm_spec(2, 4)), "group 1 (rows 4..7), columns 2..2 keeps 3 units, at most 2 of 4");
  const HostMatrix w = HostMatrix::random(12, 5, DType::f32, 6);
  expect_error_mentioning([&] { NmWeight::from_dense(w, m, nm_spec(2, 4)); }, "group 1 (rows 4..7)");
  // The 24 pattern reads as 2:4 element.
  PatternSpec sp24 = PatternSpec::from_params("24", {});
  expect_error_mentioning([&] { NmWeight::from_dense(w, m, sp24); }, "at most 2 of 4");
  Mask part(4, 4, false);
  part.set(0, 0, true);  // half of the vector unit at columns 0..1
  expect_problem(NmWeight::check_mask(part, nm_spec(1, 2, "vector", 2)),
                 "unit 0 of group 0 (rows 0..1), columns 0..1 (rows 0..0) keeps 1 of its 2 elements");
  part.set(0, 1, true);
  part.set(1, 0, true);
  expect_problem(NmWeight::check_mask(part, nm_spec(1, 2, "block", 2)), "kept whole or pruned whole");
  Mask shape(2, 2, false);
  shape.keep.pop_back();
  expect_problem(NmWeight::check_mask(shape, nm_spec(2, 4)), "holds 3 entries");
}

TEST(NmFormat, ValidateNamesCorruptArrays) {
  auto broken = [](auto edit) {
    NmWeight nm = Example().nm;
    edit(nm);
    return nm.validate();
  };
  expect_problem(broken([](NmWeight& nm) { nm.set_index(1, 0, 1); }),
                 "slot 1 of group 0 (rows 0..3), columns 0..0 (indices[1][0]) holds offset 1 after offset 1");
  expect_problem(broken([](NmWeight& nm) { nm.set_index(2, 1, 1); }), "strictly ascending (no duplicates)");
  expect_problem(broken([](NmWeight& nm) { nm.set_index(3, 2, 7); }), "holds offset 7, outside the group of 4");
  expect_problem(broken([](NmWeight& nm) { nm.index_bits = 8; }), "index_bits = 8, expected 4 for group 4");
  expect_problem(broken([](NmWeight& nm) { nm.values.pop_back(); }), "values has 11 entries");
  expect_problem(broken([](NmWeight& nm) { nm.indices.push_back(0); }), "indices has 9 bytes, expected slots x row_bytes");
  expect_problem(broken([](NmWeight& nm) { nm.indices[3] |= 0x40; }), "indices row of slot 1: the unused high nibble");
  expect_problem(broken([](NmWeight& nm) { nm.keep = 4; }), "keep (N) = 4 must satisfy 1 <= N < M = 4");
  expect_problem(broken([](NmWeight& nm) { nm.group = 300; }), "group (M) = 300");
  expect_problem(broken([](NmWeight& nm) { nm.unit_cols = 2; }), "does not fit unit kind 'element'");
  expect_problem(broken([](NmWeight& nm) { nm.values[0] = 0.1f; }), "values[0]");
  // K=5, 2:4: the second group has one unit in the matrix; a slot beyond K must be zero.
  const HostMatrix w = HostMatrix::random(5, 2, DType::f32, 3);
  NmWeight nm = NmWeight::from_dense(w, Mask(5, 2, false), nm_spec(2, 4));
  ASSERT_TRUE(nm.validate());
  nm.values[3 * 2 + 1] = 1.0f;  // slot 3 = group 1, offset 1: row 5
  expect_problem(nm.validate(), "reaches row 5, past K = 5");
}

TEST(NmFormat, FromArraysChecksMetadataTypesAndShapes) {
  const FormatArrays good = Example().nm.to_arrays();
  EXPECT_EQ(good.meta.at("keep"), "2");
  EXPECT_EQ(good.meta.at("group"), "4");
  EXPECT_EQ(good.meta.at("n"), "3");
  EXPECT_EQ(good.meta.at("index_bits"), "4");
  EXPECT_EQ(good.arrays.at("indices").shape, (std::vector<std::int64_t>{4, 2}));
  auto with = [&](auto edit) {
    FormatArrays fa = good;
    edit(fa);
    return [fa] { NmWeight::from_arrays(fa); };
  };
  expect_error_mentioning(with([](FormatArrays& fa) { fa.meta["index_bits"] = "8"; }), "index_bits = 8");
  expect_error_mentioning(with([](FormatArrays& fa) { fa.meta["keep"] = "0"; }), "keep (N) = 0");
  expect_error_mentioning(with([](FormatArrays& fa) { fa.meta["group"] = "300"; }), "exceeds 256");
  expect_error_mentioning(with([](FormatArrays& fa) { fa.meta.erase("unit"); }), "missing metadata key 'unit'");
  expect_error_mentioning(with([](FormatArrays& fa) { fa.meta["unit"] = "vector"; }), "missing metadata key 'v'");
  expect_error_mentioning(with([](FormatArrays& fa) { fa.meta["k"] = "9"; }),
                          "array 'values' has shape [4x3], expected [6x3]");
  expect_error_mentioning(with([](FormatArrays& fa) {
                            fa.arrays["indices"] = Tensor::from_vector(std::vector<std::int32_t>(8, 0), {4, 2});
                          }),
                          "array 'indices' has element type I32, expected U8");
  FormatArrays dup = good;
  dup.arrays["indices"] = Tensor::from_vector(std::vector<std::uint8_t>(8, 0), {4, 2});
  expect_error_mentioning([&] { weight_from_arrays(dup); }, "strictly ascending");
}

TEST(NmProjector, ValidatesAndKeepsTheSparsityWithinOneUnit) {
  for (const PatternSpec& spec : spec_grid()) {
    for (auto [k, n] : kShapes) {
      SCOPED_TRACE(spec.describe() + " " + std::to_string(k) + "x" + std::to_string(n));
      const HostMatrix scores = magnitude_scores(HostMatrix::random(k, n, DType::f32, 81));
      const Mask m = project(scores, spec, std::nullopt).mask;
      ASSERT_TRUE(validate_mask(m, spec)) << validate_mask(m, spec).problem;
      EXPECT_EQ(project(scores, spec, std::nullopt).mask, m);
      const double target = static_cast<double>(spec.keep) / spec.group * static_cast<double>(k * n);
      const int unit = spec.unit_rows() * spec.unit_cols();
      // Units clipped by the matrix edge shift the count by their missing elements.
      if (k % spec.unit_rows() == 0 && n % spec.unit_cols() == 0)
        EXPECT_LE(std::fabs(static_cast<double>(m.kept()) - target), unit);
    }
  }
}

TEST(NmProjector, KeepsTheTopUnitsOfEveryGroup) {
  const HostMatrix scores = magnitude_scores(HostMatrix::random(64, 9, DType::f32, 91));
  const Mask m = project(scores, nm_spec(3, 8), std::nullopt).mask;
  for (std::int64_t c = 0; c < 9; ++c)
    for (std::int64_t g0 = 0; g0 < 64; g0 += 8) {
      float min_kept = 2.0f, max_pruned = -1.0f;
      int kept = 0;
      for (std::int64_t r = g0; r < g0 + 8; ++r) {
        if (m(r, c)) {
          min_kept = std::min(min_kept, scores(r, c));
          ++kept;
        } else {
          max_pruned = std::max(max_pruned, scores(r, c));
        }
      }
      EXPECT_EQ(kept, 3);
      EXPECT_GE(min_kept, max_pruned);
    }
}

TEST(NmProjector, PartialLastGroupKeepsItsShareToTheStrongestColumns) {
  // 2:4 on K=5: the last group holds one row, so half of the 8 columns keep it (not all):
  // those whose row-4 score is highest.
  HostMatrix scores(5, 8, DType::f32);
  for (std::int64_t r = 0; r < 5; ++r)
    for (std::int64_t c = 0; c < 8; ++c) scores.set(r, c, static_cast<float>(1 + r * 8 + c));
  const Mask m = project(scores, nm_spec(2, 4), std::nullopt).mask;
  for (std::int64_t c = 0; c < 8; ++c) EXPECT_EQ(m(4, c), c >= 4) << c;
  EXPECT_EQ(m.kept(), 2 * 8 + 4);
  // The 24 pattern goes through the same projector and satisfies the 2:4 format.
  const PatternSpec sp24 = PatternSpec::from_params("24", {});
  EXPECT_TRUE(validate_mask(project(scores, sp24, std::nullopt).mask, sp24));
}

TEST(NmMatmul, MatchesDenseForEveryDtypeAndOddShape) {
  const std::vector<PatternSpec> specs = {nm_spec(2, 4), nm_spec(3, 8, "vector", 4), nm_spec(2, 4, "block", 3),
                                          nm_spec(5, 32)};
  const std::vector<std::pair<std::int64_t, std::int64_t>> shapes = {{96, 40}, {37, 7}, {1, 1}, {29, 2}, {0, 6}, {6, 0}};
  for (DType dt : test::kAllDTypes)
    for (const PatternSpec& spec : specs)
      for (auto [k, n] : shapes) {
        SCOPED_TRACE(spec.describe() + " " + std::to_string(k) + "x" + std::to_string(n));
        const Weight w = prune_magnitude(HostMatrix::random(k, n, dt, 101), spec, std::nullopt);
        ASSERT_TRUE(validate(w));
        test::expect_matches_dense(w, 7, 102);
        test::expect_matches_dense(w, 1, 103);
      }
}

}  // namespace
}  // namespace tilesparse

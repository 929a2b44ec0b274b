// Element-wise (CSR over output columns) format: round trips, serialization,
// rejection of corrupt CSR, the global top-k projector, and the reference matmul.
#include <gtest/gtest.h>

#include <algorithm>

#include "backends/ref/matmul_ref.hpp"
#include "format_test_util.hpp"
#include "tilesparse/prune/project.hpp"

namespace tilesparse {
namespace {

using test::expect_error_mentioning;
using test::expect_problem;

PatternSpec ew_spec() { return PatternSpec::from_params("ew", {}); }

// A 4 x 3 weight with known CSR: column 0 keeps rows 1, 3; column 1 none; column 2 row 0.
EwWeight small_weight() {
  HostMatrix w = HostMatrix::random(4, 3, DType::f32, 5);
  Mask m(4, 3, false);
  m.set(1, 0, true);
  m.set(3, 0, true);
  m.set(0, 2, true);
  return EwWeight::from_dense(w, m);
}

TEST(EwFormat, LayoutIsCsrOverOutputColumns) {
  const EwWeight e = small_weight();
  EXPECT_EQ(e.row_ptr, (std::vector<std::int64_t>{0, 2, 2, 3}));
  EXPECT_EQ(e.k_idx, (std::vector<std::int32_t>{1, 3, 0}));
  EXPECT_EQ(e.bytes(), 3 * 4 + 4 * 8 + 3 * 4u);
}

TEST(EwFormat, RoundTripsEveryDtypeAndOddShape) {
  for (DType dt : test::kAllDTypes) {
    for (auto [k, n] : {std::pair{96, 40}, {7, 3}, {1, 1}, {0, 4}, {4, 0}}) {
      const HostMatrix w = HostMatrix::random(k, n, dt, 21);
      const Mask mask = test::random_mask(k, n, 0.3, 22);
      test::expect_round_trips(EwWeight::from_dense(w, mask), w, mask);
    }
  }
}

TEST(EwFormat, KeepsMaskedZerosButDoesNotCountThem) {
  HostMatrix w = HostMatrix::random(5, 2, DType::f32, 1);
  w.set(2, 1, 0.0f);
  const EwWeight e = EwWeight::from_dense(w, Mask(5, 2, true));
  EXPECT_EQ(e.values.size(), 10u);
  EXPECT_EQ(e.kept(), 9);
}

TEST(EwFormat, ValidateNamesCorruptCsr) {
  auto broken = [](auto edit) {
    EwWeight e = small_weight();
    edit(e);
    return e.validate();
  };
  expect_problem(broken([](EwWeight& e) { e.row_ptr.pop_back(); }), "row_ptr has 3 entries, expected 4");
  expect_problem(broken([](EwWeight& e) { e.row_ptr[0] = 1; }), "row_ptr[0] = 1");
  expect_problem(broken([](EwWeight& e) { e.row_ptr[1] = 3; }), "row_ptr decreases at output column 1");
  expect_problem(broken([](EwWeight& e) { e.row_ptr[2] = 9; }), "row_ptr[2] = 9 exceeds");
  expect_problem(broken([](EwWeight& e) { e.row_ptr[3] = 2; }), "row_ptr[3] = 2 but k_idx has 3 entries");
  expect_problem(broken([](EwWeight& e) { e.k_idx[1] = 4; }), "k_idx[1] = 4 in output column 0 is out of range [0, 4)");
  expect_problem(broken([](EwWeight& e) { e.k_idx[2] = -1; }), "out of range");
  expect_problem(broken([](EwWeight& e) { e.k_idx[1] = 1; }), "not above the previous entry 1");
  expect_problem(broken([](EwWeight& e) { e.values.pop_back(); }), "values has 2 entries but k_idx has 3");
  expect_problem(broken([](EwWeight& e) { e.k = -1; }), "k = -1");
  expect_problem(broken([](EwWeight& e) {
                   e.dtype = DType::bf16;
                   e.values[0] = 1.0f + 1.0f / 1024;
                 }),
                 "not representable in bf16");
}

TEST(EwFormat, FromArraysChecksTypesAndShapes) {
  const FormatArrays good = small_weight().to_arrays();
  auto with = [&](auto edit) {
    FormatArrays fa = good;
    edit(fa);
    return [fa] { EwWeight::from_arrays(fa); };
  };
  expect_error_mentioning(with([](FormatArrays& fa) {
                            fa.arrays["k_idx"] = Tensor::from_vector(std::vector<std::int64_t>{1, 3, 0}, {3});
                          }),
                          "array 'k_idx' has element type I64, expected I32");
  expect_error_mentioning(with([](FormatArrays& fa) { fa.meta["n"] = "4"; }), "array 'row_ptr' has shape [4], expected [5]");
  expect_error_mentioning(with([](FormatArrays& fa) { fa.arrays["values"].shape = {1, 3}; }),
                          "array 'values' has shape [1x3], expected [3]");
  expect_error_mentioning(with([](FormatArrays& fa) { fa.arrays["k_idx"].shape = {3, 1}; }), "1-d");
  expect_error_mentioning(with([](FormatArrays& fa) { fa.arrays["k_idx"].shape = {4}; }), "bytes");
  expect_error_mentioning(with([](FormatArrays& fa) { fa.arrays.erase("row_ptr"); }), "missing array 'row_ptr'");
  // Structurally wrong but well-typed: read, then rejected by validation.
  FormatArrays bad = good;
  bad.arrays["k_idx"] = Tensor::from_vector(std::vector<std::int32_t>{3, 1, 0}, {3});
  expect_problem(EwWeight::from_arrays(bad).validate(), "strictly ascending");
  expect_error_mentioning([&] { weight_from_arrays(bad); }, "strictly ascending");
}

TEST(EwProjector, KeepsTheGlobalTopKWithLowerIndexTies) {
  const HostMatrix scores = magnitude_scores(HostMatrix::random(37, 23, DType::f32, 8));
  for (double s : {0.0, 0.25, 0.5, 0.9, 0.999, 1.0}) {
    const Mask m = project(scores, ew_spec(), s).mask;
    const auto want = static_cast<std::int64_t>(std::llround((1 - s) * 37 * 23));
    EXPECT_EQ(m.kept(), want) << s;
    EXPECT_TRUE(validate_mask(m, ew_spec()));
    float min_kept = 2.0f, max_pruned = -1.0f;
    for (std::int64_t i = 0; i < scores.size(); ++i) {
      if (m.keep[i]) min_kept = std::min(min_kept, scores.values()[i]);
      else max_pruned = std::max(max_pruned, scores.values()[i]);
    }
    if (want > 0 && want < scores.size()) EXPECT_GE(min_kept, max_pruned);
    EXPECT_EQ(project(scores, ew_spec(), s).mask, m);  // deterministic
  }
  // All scores equal: the lowest flat indices survive.
  const Mask tie = project(HostMatrix(3, 4, DType::f32, std::vector<float>(12, 1.0f)), ew_spec(), 0.5).mask;
  for (std::int64_t i = 0; i < 12; ++i) EXPECT_EQ(tie.keep[i], i < 6) << i;
}

TEST(EwMatmul, MatchesDenseForEveryDtypeAndOddShape) {
  for (DType dt : test::kAllDTypes) {
    for (auto [k, n] : {std::pair{96, 40}, {37, 5}, {1, 1}, {0, 8}, {8, 0}}) {
      const Weight w = prune_magnitude(HostMatrix::random(k, n, dt, 31), ew_spec(), 0.7);
      ASSERT_TRUE(validate(w));
      test::expect_matches_dense(w, 7, 32);
      test::expect_matches_dense(w, 1, 33);
      test::expect_matches_dense(w, 0, 34);
    }
  }
}

TEST(EwMatmul, ReferenceReadsTheCompressedArrays) {
  // Only column 2 keeps anything (row 0): C[:, 2] = A[:, 0] * w(0, 2), other columns 0.
  const EwWeight e = small_weight();
  const HostMatrix a = HostMatrix::random(3, 4, DType::f32, 9);
  const ref::Accumulator acc = ref::matmul_ew(a, e);
  for (std::int64_t i = 0; i < 3; ++i) {
    EXPECT_DOUBLE_EQ(acc[i * 3 + 0], double(a(i, 1)) * e.values[0] + double(a(i, 3)) * e.values[1]);
    EXPECT_EQ(acc[i * 3 + 1], 0.0);
    EXPECT_DOUBLE_EQ(acc[i * 3 + 2], double(a(i, 0)) * e.values[2]);
  }
}

}  // namespace
}  // namespace tilesparse

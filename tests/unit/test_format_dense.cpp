// Dense format: masking, serialization, rejection of malformed stored arrays, and the
// reference matmul through ops.hpp on odd and empty shapes.
#include <gtest/gtest.h>

#include "format_test_util.hpp"
#include "tilesparse/prune/project.hpp"

namespace tilesparse {
namespace {

using test::expect_error_mentioning;
using test::expect_problem;

TEST(DenseFormat, FromDenseZeroesPrunedElementsAndRoundTrips) {
  for (DType dt : test::kAllDTypes) {
    for (auto [k, n] : {std::pair{7, 40}, {1, 1}, {0, 5}, {5, 0}, {33, 17}}) {
      const HostMatrix w = HostMatrix::random(k, n, dt, 11);
      const Mask mask = test::random_mask(k, n, 0.6, 12);
      const DenseWeight d = DenseWeight::from_dense(w, mask);
      test::expect_round_trips(d, w, mask);
      EXPECT_EQ(d.bytes(), static_cast<std::size_t>(k * n) * size_of(dt));
      EXPECT_EQ(d.kept(), mask.kept());  // random values are never zero
    }
  }
}

TEST(DenseFormat, ArraysHoldValuesAndMetadata) {
  const DenseWeight d{HostMatrix::random(3, 4, DType::bf16, 1)};
  const FormatArrays fa = d.to_arrays();
  EXPECT_EQ(fa.meta.at("pattern"), "dense");
  EXPECT_EQ(fa.meta.at("k"), "3");
  EXPECT_EQ(fa.meta.at("n"), "4");
  EXPECT_EQ(fa.meta.at("dtype"), "bf16");
  EXPECT_EQ(fa.arrays.at("values").type, ElemType::bf16);
  EXPECT_EQ(fa.arrays.at("values").shape, (std::vector<std::int64_t>{3, 4}));
}

TEST(DenseFormat, FromArraysRejectsMalformedInput) {
  const FormatArrays good = DenseWeight{HostMatrix::random(3, 4, DType::f16, 1)}.to_arrays();
  auto with = [&](auto edit) {
    FormatArrays fa = good;
    edit(fa);
    return [fa] { DenseWeight::from_arrays(fa); };
  };
  expect_error_mentioning(with([](FormatArrays& fa) { fa.arrays.erase("values"); }), "missing array 'values'");
  expect_error_mentioning(with([](FormatArrays& fa) { fa.meta["dtype"] = "f32"; }), "element type");
  expect_error_mentioning(with([](FormatArrays& fa) { fa.meta["k"] = "4"; }), "shape [3x4], expected [4x4]");
  expect_error_mentioning(with([](FormatArrays& fa) { fa.meta["n"] = "-4"; }), "'n'");
  expect_error_mentioning(with([](FormatArrays& fa) { fa.meta["k"] = "99999999999"; }), "exceeds");
  expect_error_mentioning(with([](FormatArrays& fa) { fa.meta["pattern"] = "ew"; }), "expected 'dense'");
  expect_error_mentioning(with([](FormatArrays& fa) { fa.arrays["values"].bytes.pop_back(); }), "bytes");
  expect_error_mentioning(with([](FormatArrays& fa) { fa.arrays["values"].shape = {-3, -4}; }), "invalid shape");
}

TEST(DenseFormat, ValidateRejectsValuesNotRepresentableInDtype) {
  DenseWeight d{HostMatrix::random(2, 3, DType::f16, 1)};
  d.w.mutable_values()[4] = 0.1f;  // not an f16 value
  expect_problem(d.validate(), "values[4]");
}

TEST(DenseFormat, MatmulMatchesDenseOnOddAndEmptyShapes) {
  for (DType dt : test::kAllDTypes) {
    for (auto [k, n] : {std::pair{96, 40}, {1, 1}, {0, 6}, {6, 0}}) {
      const Weight w = prune_magnitude(HostMatrix::random(k, n, dt, 3), PatternSpec{}, std::nullopt);
      test::expect_matches_dense(w, 7, 4);
      test::expect_matches_dense(w, 0, 4);
    }
  }
}

TEST(DenseFormat, MatmulComputesTheProduct) {
  // 1x2 times 2x2 by hand, with bias and ReLU through ops.hpp.
  const HostMatrix a(1, 2, DType::f32, {1.0f, 2.0f});
  const Weight w = DenseWeight{HostMatrix(2, 2, DType::f32, {1.0f, -1.0f, 3.0f, -2.0f})};
  const std::vector<float> bias{0.5f, 0.5f};
  HostMatrix c;
  matmul(a, w, c, {.epilogue = {.bias = bias, .activation = Activation::relu}});
  EXPECT_EQ(c, HostMatrix(1, 2, DType::f32, {7.5f, 0.0f}));
}

}  // namespace
}  // namespace tilesparse

// Core types: dtype conversions (exhaustive over f16/bf16 bit patterns), matrices,
// masks, tensors, patterns and their parameters, errors.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>

#include "tilesparse/core/dtype.hpp"
#include "tilesparse/core/error.hpp"
#include "tilesparse/core/matrix.hpp"
#include "tilesparse/core/tensor.hpp"
#include "tilesparse/formats/pattern.hpp"

namespace tilesparse {
namespace {

// Exact reference: the representable neighbours of x in the target grid, chosen by
// distance in double, ties to the even bit pattern.
template <class ToFloat>
std::uint16_t nearest_even(float x, ToFloat to_float) {
  // Scan is too slow for all floats; used only on constructed midpoints below.
  std::uint16_t best = 0;
  double best_d = std::numeric_limits<double>::infinity();
  for (std::uint32_t h = 0; h < 65536; ++h) {
    const float f = to_float(static_cast<std::uint16_t>(h));
    if (!std::isfinite(f) || std::signbit(f) != std::signbit(x)) continue;
    const double d = std::fabs(static_cast<double>(f) - static_cast<double>(x));
    if (d < best_d || (d == best_d && (h & 1u) == 0)) {
      best_d = d;
      best = static_cast<std::uint16_t>(h);
    }
  }
  return best;
}

TEST(DType, F16RoundTripsEveryBitPattern) {
  for (std::uint32_t h = 0; h < 65536; ++h) {
    const float f = f16_bits_to_float(static_cast<std::uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(f16_bits_to_float(float_to_f16_bits(f)))) << h;
      continue;
    }
    ASSERT_EQ(float_to_f16_bits(f), h) << "bits " << h;
  }
}

TEST(DType, Bf16RoundTripsEveryBitPattern) {
  for (std::uint32_t b = 0; b < 65536; ++b) {
    const float f = bf16_bits_to_float(static_cast<std::uint16_t>(b));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(bf16_bits_to_float(float_to_bf16_bits(f)))) << b;
      continue;
    }
    ASSERT_EQ(float_to_bf16_bits(f), b) << "bits " << b;
  }
}

TEST(DType, F16MidpointsRoundToEven) {
  // Midpoints between consecutive f16 values (normal and subnormal), and points just off
  // them, checked against a brute-force nearest-even search.
  const std::uint16_t samples[] = {0x0001, 0x0002, 0x03ff, 0x0400, 0x0401, 0x3c00, 0x3c01, 0x7bfe, 0x1234, 0x5555};
  for (std::uint16_t h : samples) {
    const double lo = f16_bits_to_float(h), hi = f16_bits_to_float(static_cast<std::uint16_t>(h + 1));
    const float mid = static_cast<float>((lo + hi) / 2);
    for (float x : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e9f), -mid}) {
      EXPECT_EQ(float_to_f16_bits(x), nearest_even(x, f16_bits_to_float)) << "x=" << x;
    }
  }
}

TEST(DType, F16OverflowAndSpecials) {
  EXPECT_EQ(float_to_f16_bits(65504.0f), 0x7bff);
  EXPECT_EQ(float_to_f16_bits(65519.0f), 0x7bff);  // below the midpoint to Inf
  EXPECT_EQ(float_to_f16_bits(65520.0f), 0x7c00);  // the midpoint rounds to even: Inf
  EXPECT_EQ(float_to_f16_bits(1e30f), 0x7c00);
  EXPECT_EQ(float_to_f16_bits(-std::numeric_limits<float>::infinity()), 0xfc00);
  EXPECT_EQ(float_to_f16_bits(-0.0f), 0x8000);
  EXPECT_EQ(float_to_f16_bits(1e-10f), 0x0000);  // underflow to zero
  EXPECT_TRUE(std::isnan(round_to(DType::f16, std::numeric_limits<float>::quiet_NaN())));
}

TEST(DType, Bf16RoundsToNearestEven) {
  // 1 + 2^-8 is the midpoint between 1 and 1 + 2^-7: ties to even (1.0).
  EXPECT_EQ(float_to_bf16_bits(1.0f + 1.0f / 256), 0x3f80);
  EXPECT_EQ(float_to_bf16_bits(std::nextafter(1.0f + 1.0f / 256, 2.0f)), 0x3f81);
  // 1 + 3*2^-8 is the midpoint between 0x3f81 and 0x3f82: ties to even (0x3f82).
  EXPECT_EQ(float_to_bf16_bits(1.0f + 3.0f / 256), 0x3f82);
  EXPECT_TRUE(std::isnan(round_to(DType::bf16, std::numeric_limits<float>::quiet_NaN())));
}

TEST(DType, ParseNamesAndRejectsUnknown) {
  EXPECT_EQ(parse_dtype("fp16"), DType::f16);
  EXPECT_EQ(parse_dtype("bfloat16"), DType::bf16);
  EXPECT_EQ(parse_dtype("float32"), DType::f32);
  try {
    parse_dtype("int4");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("int4"), std::string::npos);
  }
}

TEST(HostMatrix, RandomIsDeterministicRoundedAndNonZero) {
  const auto a = HostMatrix::random(13, 7, DType::bf16, 42);
  const auto b = HostMatrix::random(13, 7, DType::bf16, 42);
  const auto c = HostMatrix::random(13, 7, DType::bf16, 43);
  EXPECT_EQ(a, b);
  EXPECT_FALSE(a == c);
  for (float v : a.values()) {
    EXPECT_NE(v, 0.0f);
    EXPECT_EQ(v, round_to(DType::bf16, v));
  }
}

TEST(HostMatrix, RejectsWrongValueCount) {
  EXPECT_THROW(HostMatrix(2, 3, DType::f32, std::vector<float>(5)), Error);
}

TEST(HostMatrix, TransposeAndMask) {
  const auto a = HostMatrix::random(3, 5, DType::f32, 1);
  const auto t = a.transposed();
  ASSERT_EQ(t.rows(), 5);
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 5; ++c) EXPECT_EQ(a(r, c), t(c, r));
  Mask m(3, 5, true);
  m.set(1, 2, false);
  const auto z = apply_mask(a, m);
  EXPECT_EQ(z(1, 2), 0.0f);
  EXPECT_EQ(z(1, 3), a(1, 3));
  EXPECT_EQ(nonzero_mask(z), m);
  EXPECT_NEAR(m.sparsity(), 1.0 / 15, 1e-12);
  EXPECT_THROW(apply_mask(a, Mask(5, 3)), Error);
}

TEST(HostMatrix, RelativeErrorSeesNaN) {
  auto a = HostMatrix::random(4, 4, DType::f32, 3);
  EXPECT_EQ(relative_error(a, a), 0.0);
  auto b = a;
  b.fill(std::numeric_limits<float>::quiet_NaN());
  EXPECT_TRUE(std::isnan(relative_error(b, a)));
}

TEST(Tensor, MatrixRoundTripIsBitExactPerDType) {
  for (DType dt : {DType::f32, DType::f16, DType::bf16}) {
    const auto m = HostMatrix::random(6, 9, dt, 5);
    const Tensor t = to_tensor(m);
    EXPECT_EQ(t.type, elem_type_of(dt));
    EXPECT_EQ(t.bytes.size(), 6u * 9u * size_of(dt));
    EXPECT_EQ(to_matrix(t), m);
  }
  Tensor ints = Tensor::from_vector(std::vector<std::int32_t>{1, 2, 3}, {3});
  EXPECT_THROW(to_matrix(ints, "ints"), Error);
  EXPECT_THROW(ints.to_vector<float>(), Error);
  EXPECT_EQ(ints.to_vector<std::int32_t>(), (std::vector<std::int32_t>{1, 2, 3}));
  EXPECT_THROW(parse_elem_type("Q4"), Error);
}

TEST(Tensor, NumelCountsAndRejectsOverflowAndNegativeDimensions) {
  Tensor t;
  EXPECT_EQ(t.numel(), 1);  // 0-d: one element
  t.shape = {3, 0, 5};
  EXPECT_EQ(t.numel(), 0);
  t.shape = {std::int64_t{1} << 31, std::int64_t{1} << 31};
  EXPECT_EQ(t.numel(), std::int64_t{1} << 62);
  const auto message_of = [](const Tensor& x) -> std::string {
    try {
      x.numel();
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  t.shape = {std::int64_t{1} << 32, std::int64_t{1} << 31};  // 2^63: one past int64
  EXPECT_NE(message_of(t).find("overflows"), std::string::npos) << message_of(t);
  EXPECT_NE(message_of(t).find("[4294967296x2147483648]"), std::string::npos) << message_of(t);
  // An empty dimension empties the tensor, as the safetensors reader counts it.
  t.shape = {std::numeric_limits<std::int64_t>::max(), 2, 0};
  EXPECT_EQ(t.numel(), 0);
  t.shape = {4, -1};
  EXPECT_NE(message_of(t).find("negative dimension -1"), std::string::npos) << message_of(t);
  // The matrix conversion goes through the same check instead of wrapping around.
  t = Tensor{ElemType::f32, {std::int64_t{1} << 62, 4}, {}};
  EXPECT_THROW(to_matrix(t), Error);
}

TEST(PatternSpec, ParamsRoundTripForEveryPattern) {
  for (const char* name : {"dense", "ew", "bw", "nm", "24", "tw", "tew"}) {
    const PatternSpec s = PatternSpec::from_params(name, {});
    EXPECT_EQ(PatternSpec::from_params(name, s.params()), s) << name;
  }
  const auto nm = PatternSpec::from_params("nm", {{"n", "1"}, {"m", "16"}, {"unit", "vector"}, {"v", "4"}});
  EXPECT_EQ(nm.keep, 1);
  EXPECT_EQ(nm.group, 16);
  EXPECT_EQ(nm.unit_cols(), 4);
  EXPECT_EQ(nm.describe(), "nm(m=16,n=1,unit=vector,v=4)");
}

TEST(PatternSpec, RejectsBadParametersByName) {
  auto message = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message([] { PatternSpec::from_params("nm", {{"n", "4"}, {"m", "4"}}); }).find("N < M"), std::string::npos);
  EXPECT_NE(message([] { PatternSpec::from_params("tw", {{"g", "0"}}); }).find("G must be"), std::string::npos);
  EXPECT_NE(message([] { PatternSpec::from_params("tw", {{"bk", "4"}}); }).find("'bk'"), std::string::npos);
  EXPECT_NE(message([] { PatternSpec::from_params("bw", {{"bk", "x"}}); }).find("not a number"), std::string::npos);
  EXPECT_NE(message([] { parse_pattern("csr"); }).find("unknown pattern 'csr'"), std::string::npos);
}

TEST(Error, CarriesOpShapeAndReason) {
  const Error e("matmul[tw]", "K mismatch", shape_str({7, 96}));
  EXPECT_EQ(e.op(), "matmul[tw]");
  EXPECT_EQ(e.shapes(), "[7x96]");
  EXPECT_STREQ(e.what(), "matmul[tw]: K mismatch ([7x96])");
}

}  // namespace
}  // namespace tilesparse

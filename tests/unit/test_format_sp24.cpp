// 2:4 format in the mma.sp layout: metadata words checked against hand-computed values
// (docs/formats.md), round trips, serialization, rejection of malformed weights, and the
// reference matmul against the dense one.
#include <gtest/gtest.h>

#include <random>

#include "test_util.hpp"
#include "tilesparse/core/error.hpp"
#include "tilesparse/formats/weight.hpp"

namespace tilesparse {
namespace {

// Each group of four along K keeps 0, 1 or 2 random positions.
Mask random_24_mask(std::int64_t k, std::int64_t n, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  Mask m(k, n, false);
  for (std::int64_t j = 0; j < n; ++j)
    for (std::int64_t k0 = 0; k0 < k; k0 += 4) {
      const int want = static_cast<int>(gen() % 3);
      for (int got = 0, tries = 0; got < want && tries < 16; ++tries) {
        const std::int64_t r = k0 + static_cast<std::int64_t>(gen() % 4);
        if (r < k && !m(r, j)) {
          m.set(r, j, true);
          ++got;
        }
      }
    }
  return m;
}

// W (K=32 x N=16) whose Wᵀ keeps only the elements listed in docs/formats.md's example.
Sp24Weight example_weight() {
  HostMatrix w(32, 16, DType::f16);
  w.set(21, 10, 1.5f);  // row 10 of Wᵀ, K-group 5, positions 1 and 3
  w.set(23, 10, -2.0f);
  w.set(0, 3, 0.25f);  // row 3, K-group 0, positions 0 and 2
  w.set(2, 3, 3.0f);
  w.set(7, 0, 4.0f);  // row 0, K-group 1, position 3 alone
  w.set(1, 1, 5.0f);  // row 1, K-group 0, position 1 alone
  return Sp24Weight::from_dense(w, nonzero_mask(w));
}

void expect_error(const std::function<void()>& fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

void expect_invalid(const Sp24Weight& s, const std::string& needle) {
  const Validation v = s.validate();
  ASSERT_FALSE(v.ok()) << "expected a problem mentioning '" << needle << "'";
  EXPECT_NE(v.problem.find(needle), std::string::npos) << v.problem;
}

TEST(Sp24Layout, MetadataWordsMatchHandComputedValues) {
  const Sp24Weight s = example_weight();
  ASSERT_TRUE(s.validate().ok()) << s.validate().problem;
  EXPECT_EQ(s.k_pad, 32);
  EXPECT_EQ(s.n_pad, 16);
  ASSERT_EQ(s.metadata.size(), 16u);
  // Untouched groups read positions (0, 1): nibble 0b0100.
  // Word 5 = K half 1 of rows 2 (low) and 10 (high); row 10 group 5 is nibble 1 of the
  // high half: 0b1101 (positions 1 and 3).
  EXPECT_EQ(s.metadata[5], 0x44D44444u);
  // Word 6 = K half 0 of rows 3 and 11; row 3 group 0 keeps positions 0 and 2: 0b1000.
  EXPECT_EQ(s.metadata[6], 0x44444448u);
  // Word 0 = K half 0 of rows 0 and 8; row 0 group 1 keeps only position 3, paired with
  // the lowest unused position 0: 0b1100 (value in slot 1, zero in slot 0).
  EXPECT_EQ(s.metadata[0], 0x444444C4u);
  for (std::size_t i : {1u, 2u, 3u, 4u, 7u, 8u, 9u, 10u, 11u, 12u, 13u, 14u, 15u})
    EXPECT_EQ(s.metadata[i], 0x44444444u) << "word " << i;
  // values [16][16]: row j, group q, slot s at j*16 + 2q + s.
  EXPECT_EQ(s.values[10 * 16 + 10], 1.5f);
  EXPECT_EQ(s.values[10 * 16 + 11], -2.0f);
  EXPECT_EQ(s.values[3 * 16 + 0], 0.25f);
  EXPECT_EQ(s.values[3 * 16 + 1], 3.0f);
  EXPECT_EQ(s.values[0 * 16 + 2], 0.0f);
  EXPECT_EQ(s.values[0 * 16 + 3], 4.0f);
  EXPECT_EQ(s.values[1 * 16 + 0], 0.0f);  // position 1 alone: slot 1, paired with 0
  EXPECT_EQ(s.values[1 * 16 + 1], 5.0f);
  EXPECT_EQ(s.position(10, 5, 0), 1);
  EXPECT_EQ(s.position(10, 5, 1), 3);
  EXPECT_EQ(s.position(0, 1, 0), 0);
  EXPECT_EQ(s.position(0, 1, 1), 3);
  EXPECT_EQ(s.kept(), 6);
}

TEST(Sp24Layout, TilesAreRowMajorOverRowBlocksAndKBlocks) {
  // K=70, N=20: k_pad 96 (3 K blocks), n_pad 32 (2 row blocks), 6 tiles of 16 words.
  HostMatrix w(70, 20, DType::bf16);
  // Row 17 of Wᵀ, K-group 9 (K 36..39): tile 1*3+1 = 4, r=1, qq=1 -> word 4*16 + 2*1 + 0
  // = 66, bits 4..7. Keep K 37 and 38 (positions 1, 2): nibble 0b1001.
  w.set(37, 17, 1.0f);
  w.set(38, 17, 2.0f);
  // Row 9, K-group 17 (K 68..71, K 68 and 69 real): tile 0*3+2 = 2, r=9, qq=1 ->
  // word 2*16 + 2*1 + 0 = 34, bits 16+4 = 20..23. Keep K 69 alone: (0, 1) with value in slot 1.
  w.set(69, 9, -1.0f);
  const Sp24Weight s = Sp24Weight::from_dense(w, nonzero_mask(w));
  ASSERT_TRUE(s.validate().ok()) << s.validate().problem;
  ASSERT_EQ(s.metadata.size(), 96u);
  EXPECT_EQ((s.metadata[66] >> 4) & 0xFu, 0b1001u);
  EXPECT_EQ(s.metadata[66] & ~(0xFu << 4), 0x44444404u);
  EXPECT_EQ((s.metadata[34] >> 20) & 0xFu, 0b0100u);
  EXPECT_EQ(s.values[9 * 48 + 2 * 17 + 1], -1.0f);
  EXPECT_EQ(s.values[17 * 48 + 2 * 9], 1.0f);
  EXPECT_EQ(s.values[17 * 48 + 2 * 9 + 1], 2.0f);
  EXPECT_EQ(s.to_dense(), w);
}

TEST(Sp24Format, RoundTripsExactlyOnOddShapes) {
  const std::int64_t shapes[][2] = {{1, 1}, {7, 5}, {33, 17}, {64, 16}, {0, 5}, {5, 0}, {130, 3}};
  for (DType dt : {DType::f32, DType::f16, DType::bf16}) {
    for (auto [k, n] : shapes) {
      const HostMatrix w = HostMatrix::random(k, n, dt, 11 + k * n);
      const Mask m = random_24_mask(k, n, 7 + k);
      const Sp24Weight s = Sp24Weight::from_dense(w, m);
      ASSERT_TRUE(s.validate().ok()) << s.validate().problem;
      EXPECT_EQ(s.to_dense(), apply_mask(w, m)) << k << "x" << n;
      EXPECT_EQ(s.kept(), nonzero_mask(apply_mask(w, m)).kept());
      EXPECT_EQ(s.bytes(), s.values.size() * size_of(dt) + 4 * s.metadata.size());
      // Serialized form: exact, and through the generic reader (which validates).
      const FormatArrays fa = s.to_arrays();
      EXPECT_EQ(Sp24Weight::from_arrays(fa), s);
      EXPECT_EQ(std::get<Sp24Weight>(weight_from_arrays(fa)), s);
    }
  }
}

TEST(Sp24Format, RejectsMasksWithThreeOfFour) {
  Mask m(9, 4, false);
  m.set(4, 2, true);
  m.set(5, 2, true);
  m.set(7, 2, true);
  const Validation v = Sp24Weight::check_mask(m);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.problem.find("column 2, rows 4..7"), std::string::npos) << v.problem;
  expect_error([&] { Sp24Weight::from_dense(HostMatrix::random(9, 4, DType::f16, 1), m); }, "column 2, rows 4..7");
}

TEST(Sp24Format, ValidateRejectsCraftedViolations) {
  const Sp24Weight good = example_weight();
  {
    Sp24Weight s = good;  // row 10, group 5: swap to positions (3, 1)
    s.metadata[5] = (s.metadata[5] & ~(0xFu << 20)) | (0b0111u << 20);
    expect_invalid(s, "row 10 of Wᵀ, K-group 5");
  }
  {
    Sp24Weight s = good;  // equal indices (0b0101) are undefined behaviour on the GPU
    s.metadata[0] = (s.metadata[0] & ~0xFu) | 0b0101u;
    expect_invalid(s, "row 0 of Wᵀ, K-group 0");
  }
  {
    HostMatrix w = HostMatrix::random(27, 13, DType::f32, 3);
    Sp24Weight s = Sp24Weight::from_dense(w, random_24_mask(27, 13, 4));
    s.values[14 * 16 + 3] = 1.0f;  // padding row 14 of Wᵀ
    expect_invalid(s, "row 14 of Wᵀ, K-group 1 (k 4..7), slot 1: padding");
    s = Sp24Weight::from_dense(w, random_24_mask(27, 13, 4));
    s.values[2 * 16 + 15] = 1.0f;  // group 7 (K 28..31) is all padding past k=27
    expect_invalid(s, "row 2 of Wᵀ, K-group 7");
  }
  {
    Sp24Weight s = good;
    s.metadata.pop_back();
    expect_invalid(s, "metadata has 15 words");
    s = good;
    s.values.push_back(0.0f);
    expect_invalid(s, "values has 257 entries");
    s = good;
    s.k_pad = 64;
    expect_invalid(s, "k_pad 64");
    s = good;
    s.n_pad = 8;
    expect_invalid(s, "n_pad 8");
    s = good;
    s.values[0] = 0.1f;  // not an f16 value
    expect_invalid(s, "not representable in f16");
  }
}

TEST(Sp24Format, FromArraysRejectsMalformedArrays) {
  const FormatArrays good = example_weight().to_arrays();
  FormatArrays fa = good;
  fa.arrays["metadata"] = Tensor::from_vector(std::vector<std::uint32_t>(15), {15});
  expect_error([&] { Sp24Weight::from_arrays(fa); }, "metadata");
  fa = good;
  fa.arrays.erase("values");
  expect_error([&] { Sp24Weight::from_arrays(fa); }, "values");
  fa = good;
  fa.meta["k"] = "40";  // k_pad 64 -> values must be [16, 32]
  expect_error([&] { Sp24Weight::from_arrays(fa); }, "values");
  fa = good;
  fa.arrays["metadata"] = Tensor::from_vector(std::vector<std::int32_t>(16), {16});
  expect_error([&] { Sp24Weight::from_arrays(fa); }, "metadata");
}

TEST(Sp24Matmul, MatchesDenseForEveryDtypeAndOddShapes) {
  const std::int64_t shapes[][3] = {{7, 96, 40}, {1, 1, 1}, {5, 33, 17}, {3, 64, 16}, {4, 0, 6}, {9, 130, 3}};
  for (DType dt : {DType::f32, DType::f16, DType::bf16})
    for (auto [m, k, n] : shapes) {
      const HostMatrix w = HostMatrix::random(k, n, dt, 5 + k + n);
      test::expect_matches_dense(Weight(Sp24Weight::from_dense(w, random_24_mask(k, n, 9 + n))), m, 21 + m);
    }
}

}  // namespace
}  // namespace tilesparse

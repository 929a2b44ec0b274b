// The roofline model: exact byte and flop counts per pattern, the bound picks the larger
// of the two times, the CSR intensity formula and its tiled form, ceilings on disk.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "tilesparse/core/error.hpp"
#include "tilesparse/perf/roofline.hpp"

namespace tilesparse::perf {
namespace {

PatternSpec spec(Pattern p) {
  PatternSpec s;
  s.pattern = p;
  return s;
}

TEST(Roofline, DenseMovesEachOperandOnce) {
  const Cost c = matmul_cost(spec(Pattern::dense), 7, 96, 40, DType::f16, 0.0);
  EXPECT_DOUBLE_EQ(c.bytes.weight_values, 96.0 * 40 * 2);
  EXPECT_DOUBLE_EQ(c.bytes.weight_index, 0.0);
  EXPECT_DOUBLE_EQ(c.bytes.activations, 7.0 * 96 * 2);
  EXPECT_DOUBLE_EQ(c.bytes.outputs, 7.0 * 40 * 2);
  EXPECT_DOUBLE_EQ(c.flops, 2.0 * 7 * 96 * 40);
}

TEST(Roofline, CsrCountsInt32IndicesAndOffsets) {
  const Cost c = matmul_cost(spec(Pattern::ew), 4, 100, 10, DType::f32, 0.75);
  EXPECT_DOUBLE_EQ(c.kept, 250.0);
  EXPECT_DOUBLE_EQ(c.bytes.weight_values, 250.0 * 4);
  EXPECT_DOUBLE_EQ(c.bytes.weight_index, 250.0 * 4 + 11 * 4);
  EXPECT_DOUBLE_EQ(c.flops, 2.0 * 4 * 250);
}

TEST(Roofline, TwoFourKeepsHalfWithTwoBitsEach) {
  const Cost c = matmul_cost(spec(Pattern::sp24), 1, 64, 8, DType::bf16, 0.9);  // sparsity ignored
  EXPECT_DOUBLE_EQ(c.kept, 32.0 * 8);
  EXPECT_DOUBLE_EQ(c.bytes.weight_index, 32.0 * 8 / 4);
  // K not a multiple of 4: the last group is padded.
  EXPECT_DOUBLE_EQ(matmul_cost(spec(Pattern::sp24), 1, 61, 8, DType::bf16, 0.5).kept, 32.0 * 8);
}

TEST(Roofline, BlocksCoverPartialEdges) {
  PatternSpec s = spec(Pattern::bw);
  s.bk = s.bn = 32;
  const Cost c = matmul_cost(s, 2, 70, 40, DType::f16, 0.5);  // 3 x 2 blocks, half kept
  EXPECT_DOUBLE_EQ(c.kept, 3.0 * 32 * 32);
  EXPECT_DOUBLE_EQ(c.bytes.weight_index, 3.0 * 4 + 3 * 4);
}

TEST(Roofline, ActivationBytesCountTheRowsRead) {
  PatternSpec s = spec(Pattern::tw);
  s.g = 128;
  EXPECT_DOUBLE_EQ(matmul_cost(s, 8, 4096, 1024, DType::f16, 0.99).bytes.activations, 8.0 * 4096 * 2);
  const Cost c = matmul_cost(s, 8, 4096, 1024, DType::f16, 0.99, 407);
  EXPECT_DOUBLE_EQ(c.bytes.activations, 8.0 * 407 * 2);
  EXPECT_DOUBLE_EQ(c.flops, matmul_cost(s, 8, 4096, 1024, DType::f16, 0.99).flops);  // the same multiplies
  EXPECT_DOUBLE_EQ(matmul_cost(s, 8, 4096, 1024, DType::f16, 1.0, 0).bytes.activations, 0.0);
  EXPECT_THROW(matmul_cost(s, 8, 4096, 1024, DType::f16, 0.99, 4097), Error);
  EXPECT_THROW(matmul_cost(s, 8, 4096, 1024, DType::f16, 0.99, -1), Error);
}

TEST(Roofline, BoundIsTheLargerTime) {
  Ceilings ceil;
  ceil.copy_gbps = 1000;  // 1e12 bytes/s
  ceil.peak_tflops_f32 = 50;
  ceil.peak_tflops_f16 = ceil.peak_tflops_bf16 = 500;
  const Cost big = matmul_cost(spec(Pattern::dense), 8192, 8192, 8192, DType::f16, 0);
  const Bound b = bound(big, DType::f16, ceil);
  EXPECT_FALSE(b.memory_bound());
  EXPECT_NEAR(b.us(), 2.0 * 8192 * 8192 * 8192 / 500e12 * 1e6, 1e-6);
  const Bound v = bound(matmul_cost(spec(Pattern::dense), 1, 4096, 4096, DType::f16, 0), DType::f16, ceil);
  EXPECT_TRUE(v.memory_bound());
  EXPECT_NEAR(v.us(), (4096.0 * 4096 * 2 + 4096 * 2 + 4096 * 2) / 1e12 * 1e6, 1e-9);
  EXPECT_THROW(bound(big, DType::f16, Ceilings{}), Error);
}

TEST(Roofline, CsrIntensityIsTheTutorialFormula) {
  // fp32 values, int32 indices, 8-byte row pointer: I = 2mu / (8mu + 4mu + 4 + 8).
  EXPECT_DOUBLE_EQ(csr_intensity(16, 4, 4, 8), 32.0 / (8 * 16 + 4 * 16 + 4 + 8));
  // Untiled it stays below 2 / (2 bt + bi) however dense the rows are.
  EXPECT_LT(csr_intensity(1e6, 4, 4, 8), 2.0 / 12);
  EXPECT_DOUBLE_EQ(csr_intensity_tiled(16, 1024, 4, 4, 8, 1, 1), csr_intensity(16, 4, 4, 8));
}

TEST(Roofline, TilingRaisesCsrIntensity) {
  const double base = csr_intensity_tiled(64, 4096, 2, 4, 8, 1, 1);
  const double rows = csr_intensity_tiled(64, 4096, 2, 4, 8, 64, 1);
  const double both = csr_intensity_tiled(64, 4096, 2, 4, 8, 64, 64);
  EXPECT_GT(rows, 2 * base);
  EXPECT_GT(both, rows);
  EXPECT_THROW(csr_intensity_tiled(10, 5, 2, 4, 8, 1, 1), Error);  // mu > k
}

TEST(Roofline, CeilingsRoundTripAndNameMissingKeys) {
  const auto dir = std::filesystem::temp_directory_path();
  const std::string path = (dir / "tilesparse_ceilings_test.json").string();
  Ceilings c;
  c.device = "test";
  c.copy_gbps = 3000;
  c.peak_tflops_f32 = 51;
  c.peak_tflops_f16 = 750;
  c.peak_tflops_bf16 = 790;
  c.save(path);
  const Ceilings back = Ceilings::load(path);
  EXPECT_EQ(back.device, "test");
  EXPECT_DOUBLE_EQ(back.peak_tflops(DType::bf16), 790);
  std::ofstream(path) << R"({"copy_gbps": 3000, "peak_tflops": {"f32": 51, "f16": 750}})";
  try {
    Ceilings::load(path);
    FAIL() << "expected Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("peak_tflops.bf16"), std::string::npos) << e.what();
  }
  std::filesystem::remove(path);
  EXPECT_THROW(Ceilings::load(path), Error);
}

TEST(Roofline, CommittedH100CeilingsLoad) {
  const Ceilings c = Ceilings::load(std::string(TILESPARSE_SOURCE_DIR) + "/bench/device_h100.json");
  EXPECT_GT(c.copy_gbps, 1000);
  EXPECT_GT(c.peak_tflops_f16, c.peak_tflops_f32);
}

TEST(Roofline, RejectsBadArguments) {
  EXPECT_THROW(matmul_cost(spec(Pattern::ew), -1, 4, 4, DType::f32, 0.5), Error);
  EXPECT_THROW(matmul_cost(spec(Pattern::ew), 1, 4, 4, DType::f32, 1.5), Error);
}

}  // namespace
}  // namespace tilesparse::perf

// Every CUDA path of the dispatch table against the CPU reference: fresh random inputs,
// odd shapes, each dtype, outputs poisoned with NaN before the run.
#include <cmath>

#include "conformance/gpu_test_util.hpp"

namespace tilesparse {
namespace {

using test::pruned_weight;
using test::tolerance;

struct Shape {
  std::int64_t m, k, n;
};

// 7x96x40 (DESIGN.md §5), a single row, K not a multiple of a group or block, N below a tile.
const std::vector<Shape> kOddShapes = {{7, 96, 40}, {1, 96, 40}, {33, 130, 70}, {5, 61, 9}, {64, 256, 128}};

std::uint64_t fresh_seed() {
  static std::uint64_t next = 1000;
  return next++;
}

// Runs the device path through the device API (output poisoned first) and returns C.
HostMatrix run_device(const HostMatrix& a, const Weight& w, const MatmulOptions& options = {}) {
  const gpu::Stream stream;
  const auto da = gpu::DeviceMatrix::upload(a);
  const auto dw = gpu::DeviceWeight::upload(w);
  gpu::DeviceMatrix dc(a.rows(), n_of(w), a.dtype());
  dc.poison(stream);
  MatmulOptions opt = options;
  opt.backend = Backend::cuda;
  gpu::matmul(da, dw, dc, opt, stream);
  stream.synchronize();
  return dc.download();
}

void expect_matches_reference(Pattern p, DType dt, const Shape& s) {
  const Weight w = pruned_weight(p, s.k, s.n, dt, fresh_seed());
  const HostMatrix a = HostMatrix::random(s.m, s.k, dt, fresh_seed());
  HostMatrix want;
  matmul(a, w, want);
  const HostMatrix got = run_device(a, w);
  ASSERT_EQ(got.rows(), s.m);
  ASSERT_EQ(got.cols(), s.n);
  const double err = relative_error(got, want);
  EXPECT_LE(err, tolerance(dt)) << "pattern " << to_string(p) << " dtype " << to_string(dt) << " shape " << s.m << "x"
                                << s.k << "x" << s.n;  // NaN (unwritten or wrong) fails too
}

class GpuMatmul : public ::testing::TestWithParam<std::tuple<Pattern, DType>> {};

TEST_P(GpuMatmul, MatchesReferenceOnOddShapes) {
  TILESPARSE_SKIP_WITHOUT_GPU();
  const auto [p, dt] = GetParam();
  if (!has_kernel(p, Backend::cuda, dt)) GTEST_SKIP() << "no CUDA kernel for " << to_string(p) << " (built without cuSPARSELt)";
  for (const Shape& s : kOddShapes) {
    // cuSPARSE BSR covers whole blocks: shapes that cut a block are refused (tested below).
    if (p == Pattern::bw && (s.k % 16 != 0 || s.n % 16 != 0)) continue;
    expect_matches_reference(p, dt, s);
  }
}

INSTANTIATE_TEST_SUITE_P(
    VendorPaths, GpuMatmul,
    ::testing::Values(std::tuple{Pattern::dense, DType::f32}, std::tuple{Pattern::dense, DType::f16},
                      std::tuple{Pattern::dense, DType::bf16}, std::tuple{Pattern::ew, DType::f32},
                      std::tuple{Pattern::ew, DType::f16}, std::tuple{Pattern::ew, DType::bf16},
                      std::tuple{Pattern::bw, DType::f32}, std::tuple{Pattern::bw, DType::f16},
                      std::tuple{Pattern::bw, DType::bf16}, std::tuple{Pattern::sp24, DType::f16},
                      std::tuple{Pattern::sp24, DType::bf16}),
    [](const auto& info) {
      return std::string(std::get<0>(info.param) == Pattern::sp24 ? "sp24" : to_string(std::get<0>(info.param))) +
             "_" + std::string(to_string(std::get<1>(info.param)));
    });

TEST(GpuMatmulEpilogue, BiasAndActivationMatchReference) {
  TILESPARSE_SKIP_WITHOUT_GPU();
  for (DType dt : {DType::f32, DType::f16, DType::bf16}) {
    for (Activation act : {Activation::none, Activation::relu, Activation::gelu}) {
      const Weight w = pruned_weight(Pattern::ew, 96, 40, dt, fresh_seed());
      const HostMatrix a = HostMatrix::random(7, 96, dt, fresh_seed());
      const HostMatrix bias = HostMatrix::random(1, 40, DType::f32, fresh_seed());
      MatmulOptions opt;
      opt.epilogue = {bias.values(), act};
      HostMatrix want;
      matmul(a, w, want, opt);
      EXPECT_LE(relative_error(run_device(a, w, opt), want), tolerance(dt)) << to_string(act) << " " << to_string(dt);
    }
  }
}

TEST(GpuMatmulHostEntry, CopiesInAndOut) {
  TILESPARSE_SKIP_WITHOUT_GPU();
  const Weight w = pruned_weight(Pattern::dense, 96, 40, DType::f16, fresh_seed());
  const HostMatrix a = HostMatrix::random(7, 96, DType::f16, fresh_seed());
  HostMatrix want, got(3, 3);
  matmul(a, w, want);
  MatmulOptions opt;
  opt.backend = Backend::cuda;
  matmul(a, w, got, opt);
  EXPECT_LE(relative_error(got, want), tolerance(DType::f16));
}

TEST(GpuMatmulCache, OneWeightServesSeveralBatchSizes) {
  TILESPARSE_SKIP_WITHOUT_GPU();
  for (Pattern p : {Pattern::ew, Pattern::sp24}) {
    if (!has_kernel(p, Backend::cuda, DType::f16)) continue;  // built without cuSPARSELt
    const Weight w = pruned_weight(p, 128, 64, DType::f16, fresh_seed());
    const gpu::Stream stream;
    const auto dw = gpu::DeviceWeight::upload(w);
    for (std::int64_t m : {16, 3, 16, 40}) {  // plans per M are made once and reused
      const HostMatrix a = HostMatrix::random(m, 128, DType::f16, fresh_seed());
      gpu::DeviceMatrix dc(m, 64, DType::f16);
      dc.poison(stream);
      MatmulOptions opt;
      opt.backend = Backend::cuda;
      gpu::matmul(gpu::DeviceMatrix::upload(a), dw, dc, opt, stream);
      stream.synchronize();
      HostMatrix want;
      matmul(a, w, want);
      EXPECT_LE(relative_error(dc.download(), want), tolerance(DType::f16)) << to_string(p) << " m=" << m;
    }
  }
}

void expect_error(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    FAIL() << "expected Error containing '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(GpuMatmulErrors, CombinationsWithoutKernelAreNamed) {
  TILESPARSE_SKIP_WITHOUT_GPU();
  MatmulOptions opt;
  opt.backend = Backend::cuda;
  HostMatrix c;
  const HostMatrix a32 = HostMatrix::random(4, 64, DType::f32, 1);
  expect_error([&] { matmul(a32, pruned_weight(Pattern::nm, 64, 32, DType::f32, 2), c, opt); },
               "no kernel for pattern nm on backend cuda with dtype f32");
  expect_error([&] { matmul(a32, pruned_weight(Pattern::sp24, 64, 32, DType::f32, 3), c, opt); },
               "no kernel for pattern 24 on backend cuda with dtype f32");
  expect_error([&] { matmul(a32, pruned_weight(Pattern::dense, 64, 32, DType::f16, 4), c, opt); },
               "the CUDA kernels take A in W's dtype");
  expect_error([&] { matmul(HostMatrix::random(4, 63, DType::f32, 5), pruned_weight(Pattern::dense, 64, 32, DType::f32, 6), c, opt); },
               "A has 63 columns but W has K = 64");
  expect_error([&] { matmul(HostMatrix::random(4, 40, DType::f32, 5), pruned_weight(Pattern::bw, 40, 32, DType::f32, 6), c, opt); },
               "cuSPARSE BSR needs K a multiple of bk");
}

TEST(GpuMatmulErrors, DeviceOutputMustBePreallocated) {
  TILESPARSE_SKIP_WITHOUT_GPU();
  const gpu::Stream stream;
  const auto a = gpu::DeviceMatrix::upload(HostMatrix::random(4, 64, DType::f32, 1));
  const auto w = gpu::DeviceWeight::upload(pruned_weight(Pattern::dense, 64, 32, DType::f32, 2));
  gpu::DeviceMatrix c(4, 31, DType::f32);
  MatmulOptions opt;
  opt.backend = Backend::cuda;
  expect_error([&] { gpu::matmul(a, w, c, opt, stream); }, "C must be preallocated as M x N");
}

}  // namespace
}  // namespace tilesparse

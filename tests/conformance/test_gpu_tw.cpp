// The TW and TEW kernels (tensor cores for f16/bf16, CUDA cores for f32) against the CPU
// reference: every dtype x activation layout x epilogue x tile width, odd shapes (K and N
// not multiples of the tile, M not a multiple of 8 or of the row block), multi-stage
// pipelines, 0% sparsity, a weight pruned entirely; outputs poisoned before each run.
#include <cmath>

#include "conformance/gpu_test_util.hpp"

namespace tilesparse {
namespace {

using test::tolerance;

std::uint64_t fresh_seed() {
  static std::uint64_t next = 5000;
  return next++;
}

struct Case {
  std::int64_t m, k, n;
  std::int64_t g;
  double sparsity;
};

Weight tw_weight(Pattern p, const Case& c, DType dt) {
  PatternSpec spec;
  spec.pattern = p;
  spec.g = c.g;
  spec.delta = 0.05;
  return prune_magnitude(HostMatrix::random(c.k, c.n, dt, fresh_seed()), spec, c.sparsity);
}

// C from the device for A (row-major layout) or from Aᵀ (transposed layout, C read back
// from Cᵀ), output poisoned first.
HostMatrix run_device(const HostMatrix& a, const Weight& w, const HostMatrix* bias, Activation act,
                      gpu::Layout layout, bool fuse = true) {
  const gpu::Stream stream;
  const bool transposed = layout == gpu::Layout::transposed;
  const auto da = gpu::DeviceMatrix::upload(transposed ? a.transposed() : a);
  const auto dw = gpu::DeviceWeight::upload(w);
  gpu::DeviceMatrix dc(transposed ? n_of(w) : a.rows(), transposed ? a.rows() : n_of(w), a.dtype());
  dc.poison(stream);
  gpu::DeviceBuffer dbias(bias ? bias->values().size() * sizeof(float) : 0);
  if (bias) dbias.upload(bias->values().data(), dbias.bytes());
  gpu::DeviceOptions options;
  options.bias = bias ? &dbias : nullptr;
  options.activation = act;
  options.layout = layout;
  options.fuse_epilogue = fuse;
  gpu::matmul(da, dw, dc, options, stream);
  stream.synchronize();
  const HostMatrix c = dc.download();
  return transposed ? c.transposed() : c;
}

void expect_matches(Pattern p, DType dt, const Case& c, gpu::Layout layout, Activation act, bool with_bias,
                    bool fuse = true) {
  const Weight w = tw_weight(p, c, dt);
  const HostMatrix a = HostMatrix::random(c.m, c.k, dt, fresh_seed());
  const HostMatrix bias = HostMatrix::random(1, c.n, DType::f32, fresh_seed());
  MatmulOptions opt;
  if (with_bias) opt.epilogue.bias = bias.values();
  opt.epilogue.activation = act;
  HostMatrix want;
  matmul(a, w, want, opt);
  const HostMatrix got = run_device(a, w, with_bias ? &bias : nullptr, act, layout, fuse);
  ASSERT_EQ(got.rows(), c.m);
  ASSERT_EQ(got.cols(), c.n);
  EXPECT_LE(relative_error(got, want), tolerance(dt))  // NaN (an element not written) fails too
      << to_string(p) << " " << to_string(dt) << " " << gpu::to_string(layout) << " " << to_string(act)
      << (with_bias ? " bias" : "") << (fuse ? "" : " unfused") << " M=" << c.m << " K=" << c.k << " N=" << c.n
      << " G=" << c.g << " s=" << c.sparsity;
}

using Param = std::tuple<Pattern, DType, gpu::Layout>;
class GpuTw : public ::testing::TestWithParam<Param> {};

TEST_P(GpuTw, OddShapesEveryTileWidth) {
  TILESPARSE_SKIP_WITHOUT_GPU();
  const auto [p, dt, layout] = GetParam();
  // G 8 and 32 take 32-column items, 64 and 48 64-column ones, 128 and 200 128-column
  // ones (200: two items per tile); M 1, 7 and 130 leave the transposed layout off its
  // 16-byte path; K and N cut tiles and row blocks.
  const std::vector<Case> cases = {{7, 96, 40, 8, 0.5},     {1, 130, 70, 32, 0.6},   {33, 61, 9, 48, 0.3},
                                   {130, 200, 300, 64, 0.7}, {64, 257, 150, 128, 0.75}, {40, 300, 420, 200, 0.5},
                                   {136, 64, 128, 128, 0.9}};
  for (const Case& c : cases) expect_matches(p, dt, c, layout, Activation::none, false);
}

TEST_P(GpuTw, FusedBiasAndActivations) {
  TILESPARSE_SKIP_WITHOUT_GPU();
  const auto [p, dt, layout] = GetParam();
  for (Activation act : {Activation::none, Activation::relu, Activation::gelu}) {
    expect_matches(p, dt, {48, 160, 136, 64, 0.5}, layout, act, true);
    expect_matches(p, dt, {48, 160, 136, 64, 0.5}, layout, act, true, /*fuse=*/false);
  }
}

TEST_P(GpuTw, LongPipelinesAndTallActivations) {
  TILESPARSE_SKIP_WITHOUT_GPU();
  const auto [p, dt, layout] = GetParam();
  // 1024 K rows at 50% row pruning: ~12 steps of 64 through the stage ring; many row
  // blocks per item.
  expect_matches(p, dt, {256, 1024, 256, 128, 0.5}, layout, Activation::relu, true);
  expect_matches(p, dt, {2048, 320, 256, 128, 0.75}, layout, Activation::none, true);
  expect_matches(p, dt, {2056, 192, 96, 32, 0.5}, layout, Activation::gelu, false);
}

TEST_P(GpuTw, ZeroSparsityAndWeightPrunedEntirely) {
  TILESPARSE_SKIP_WITHOUT_GPU();
  const auto [p, dt, layout] = GetParam();
  expect_matches(p, dt, {72, 128, 256, 128, 0.0}, layout, Activation::relu, true);
  expect_matches(p, dt, {72, 128, 256, 128, 1.0}, layout, Activation::gelu, true);  // every column: epilogue(0)
}

TEST_P(GpuTw, CompactOutputHoldsTheKeptColumns) {
  TILESPARSE_SKIP_WITHOUT_GPU();
  const auto [p, dt, layout] = GetParam();
  if (p != Pattern::tw) GTEST_SKIP() << "compact output is a TW option";
  for (const Case& c : {Case{130, 200, 300, 64, 0.75}, Case{2048, 256, 384, 128, 0.5}}) {
    const Weight w = tw_weight(p, c, dt);
    const auto& col_map = std::get<TwWeight>(w).col_map;
    const HostMatrix a = HostMatrix::random(c.m, c.k, dt, fresh_seed());
    const HostMatrix bias = HostMatrix::random(1, c.n, DType::f32, fresh_seed());
    MatmulOptions opt;
    opt.epilogue = {bias.values(), Activation::relu};
    HostMatrix full;
    matmul(a, w, full, opt);
    const std::int64_t kept = static_cast<std::int64_t>(col_map.size());
    HostMatrix want(c.m, kept, dt);
    for (std::int64_t i = 0; i < c.m; ++i)
      for (std::int64_t j = 0; j < kept; ++j) want.mutable_values()[i * kept + j] = full.values()[i * c.n + col_map[j]];

    const gpu::Stream stream;
    const bool transposed = layout == gpu::Layout::transposed;
    const auto da = gpu::DeviceMatrix::upload(transposed ? a.transposed() : a);
    const auto dw = gpu::DeviceWeight::upload(w);
    ASSERT_EQ(dw.kept_columns(), kept);
    gpu::DeviceMatrix dc(transposed ? kept : c.m, transposed ? c.m : kept, dt);
    dc.poison(stream);
    gpu::DeviceBuffer dbias(bias.values().size() * sizeof(float));
    dbias.upload(bias.values().data(), dbias.bytes());
    gpu::DeviceOptions options;
    options.bias = &dbias;
    options.activation = Activation::relu;
    options.layout = layout;
    options.compact_output = true;
    gpu::matmul(da, dw, dc, options, stream);
    stream.synchronize();
    const HostMatrix got = transposed ? dc.download().transposed() : dc.download();
    EXPECT_LE(relative_error(got, want), tolerance(dt)) << to_string(dt) << " " << gpu::to_string(layout) << " M=" << c.m;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Kernels, GpuTw,
    ::testing::Combine(::testing::Values(Pattern::tw, Pattern::tew), ::testing::Values(DType::f16, DType::bf16, DType::f32),
                       ::testing::Values(gpu::Layout::row_major, gpu::Layout::transposed)),
    [](const auto& info) {
      return std::string(to_string(std::get<0>(info.param))) + "_" + std::string(to_string(std::get<1>(info.param))) +
             "_" + std::string(gpu::to_string(std::get<2>(info.param)));
    });

// The other layout-capable vendor paths (the baselines of the TW benchmarks).
TEST(GpuTransposedLayout, CublasAndCusparseCsrMatchReference) {
  TILESPARSE_SKIP_WITHOUT_GPU();
  for (Pattern p : {Pattern::dense, Pattern::ew}) {
    for (DType dt : {DType::f32, DType::f16, DType::bf16}) {
      const Weight w = test::pruned_weight(p, 130, 70, dt, fresh_seed());
      const HostMatrix a = HostMatrix::random(33, 130, dt, fresh_seed());
      const HostMatrix bias = HostMatrix::random(1, 70, DType::f32, fresh_seed());
      MatmulOptions opt;
      opt.epilogue = {bias.values(), Activation::relu};
      HostMatrix want;
      matmul(a, w, want, opt);
      EXPECT_LE(relative_error(run_device(a, w, &bias, Activation::relu, gpu::Layout::transposed), want),
                tolerance(dt))
          << to_string(p) << " " << to_string(dt);
    }
  }
}

TEST(GpuTransposedLayout, KernelsWithoutItSayso) {
  TILESPARSE_SKIP_WITHOUT_GPU();
  const gpu::Stream stream;
  const Weight w = test::pruned_weight(Pattern::bw, 64, 32, DType::f16, fresh_seed());
  const auto dw = gpu::DeviceWeight::upload(w);
  const auto da = gpu::DeviceMatrix::upload(HostMatrix::random(64, 8, DType::f16, 1));
  gpu::DeviceMatrix dc(32, 8, DType::f16);
  gpu::DeviceOptions options;
  options.layout = gpu::Layout::transposed;
  try {
    gpu::matmul(da, dw, dc, options, stream);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("row-major activations only"), std::string::npos) << e.what();
  }
  gpu::DeviceMatrix wrong(8, 32, DType::f16);  // C instead of Cᵀ
  const auto tw = gpu::DeviceWeight::upload(tw_weight(Pattern::tw, {8, 64, 32, 32, 0.5}, DType::f16));
  try {
    gpu::matmul(da, tw, wrong, options, stream);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Cᵀ must be preallocated as N x M"), std::string::npos) << e.what();
  }
  EXPECT_EQ(gpu::kernel_name(tw, gpu::Layout::transposed), "cuda.tw.wgmma");
}

}  // namespace
}  // namespace tilesparse

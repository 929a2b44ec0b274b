// The TW and TEW kernels (tensor cores for f16/bf16, CUDA cores for f32) against the CPU
// reference: every dtype x activation layout x epilogue x tile width, odd shapes (K and N
// not multiples of the tile, M not a multiple of 8 or of the row block), multi-stage
// pipelines, 0% sparsity, tiles without kept rows, a weight pruned entirely; outputs
// poisoned before each run. Each case runs with the table's automatic choice (suite
// Kernels) and with the mma.sync kernels forced (suite Mma: cuda.tw.mma / cuda.tew.mma,
// which the table picks on devices other than 9.x).
#include <algorithm>
#include <cmath>

#include "backends/cuda/tw_plan.hpp"
#include "conformance/gpu_test_util.hpp"
#include "format_test_util.hpp"

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

// The TW weight with the listed tiles keeping no K rows while their columns stay kept: a
// valid weight no pruner makes, whose items run no step and must write epilogue(0).
TwWeight without_rows(const TwWeight& w, const std::vector<std::int64_t>& emptied) {
  TwWeight out = w;
  out.row_ptr = {0};
  out.value_ptr = {0};
  out.row_idx.clear();
  out.values.clear();
  for (std::int64_t t = 0; t < w.tiles(); ++t) {
    if (std::find(emptied.begin(), emptied.end(), t) == emptied.end()) {
      out.row_idx.insert(out.row_idx.end(), w.row_idx.begin() + w.row_ptr[t], w.row_idx.begin() + w.row_ptr[t + 1]);
      out.values.insert(out.values.end(), w.values.begin() + w.value_ptr[t], w.values.begin() + w.value_ptr[t + 1]);
    }
    out.row_ptr.push_back(static_cast<std::int64_t>(out.row_idx.size()));
    out.value_ptr.push_back(static_cast<std::int64_t>(out.values.size()));
  }
  return out;
}

// Which kernel a case runs: the table's choice for the device, or the mma.sync entry of
// its pattern forced through DeviceOptions::kernel.
enum class Choice { automatic, mma };

std::string forced_kernel(Pattern p, Choice choice) {
  return choice == Choice::mma ? "cuda." + std::string(to_string(p)) + ".mma" : "";
}

// C from the device for A (row-major layout) or from Aᵀ (transposed layout, C read back
// from Cᵀ), output poisoned first; `kernel` as DeviceOptions::kernel.
HostMatrix run_device(const HostMatrix& a, const Weight& w, const HostMatrix* bias, Activation act,
                      gpu::Layout layout, const std::string& kernel, bool fuse = true) {
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
  options.kernel = kernel;
  gpu::matmul(da, dw, dc, options, stream);
  stream.synchronize();
  const HostMatrix c = dc.download();
  return transposed ? c.transposed() : c;
}

void expect_weight_matches(const Weight& w, DType dt, const Case& c, gpu::Layout layout, const std::string& kernel,
                           Activation act, bool with_bias, bool fuse = true) {
  const Pattern p = pattern_of(w);
  const HostMatrix a = HostMatrix::random(c.m, c.k, dt, fresh_seed());
  const HostMatrix bias = HostMatrix::random(1, c.n, DType::f32, fresh_seed());
  MatmulOptions opt;
  if (with_bias) opt.epilogue.bias = bias.values();
  opt.epilogue.activation = act;
  HostMatrix want;
  matmul(a, w, want, opt);
  const HostMatrix got = run_device(a, w, with_bias ? &bias : nullptr, act, layout, kernel, fuse);
  ASSERT_EQ(got.rows(), c.m);
  ASSERT_EQ(got.cols(), c.n);
  EXPECT_LE(relative_error(got, want), tolerance(dt))  // NaN (an element not written) fails too
      << to_string(p) << " " << to_string(dt) << " " << gpu::to_string(layout) << " " << to_string(act)
      << (with_bias ? " bias" : "") << (fuse ? "" : " unfused") << " M=" << c.m << " K=" << c.k << " N=" << c.n
      << " G=" << c.g << " s=" << c.sparsity << " kernel " << (kernel.empty() ? "automatic" : kernel);
}

void expect_matches(Pattern p, DType dt, const Case& c, gpu::Layout layout, const std::string& kernel, Activation act,
                    bool with_bias, bool fuse = true) {
  expect_weight_matches(tw_weight(p, c, dt), dt, c, layout, kernel, act, with_bias, fuse);
}

using Param = std::tuple<Pattern, DType, gpu::Layout, Choice>;
class GpuTw : public ::testing::TestWithParam<Param> {
 protected:
  Pattern p = std::get<0>(GetParam());
  DType dt = std::get<1>(GetParam());
  gpu::Layout layout = std::get<2>(GetParam());
  std::string kernel = forced_kernel(p, std::get<3>(GetParam()));
};

TEST_P(GpuTw, OddShapesEveryTileWidth) {
  TILESPARSE_SKIP_WITHOUT_GPU();
  // G 8 and 32 take 32-column items, 64 and 48 64-column ones, 128 and 200 128-column
  // ones (200: two items per tile); M 1, 7 and 130 leave the transposed layout off its
  // 16-byte path; K and N cut tiles and row blocks.
  const std::vector<Case> cases = {{7, 96, 40, 8, 0.5},     {1, 130, 70, 32, 0.6},   {33, 61, 9, 48, 0.3},
                                   {130, 200, 300, 64, 0.7}, {64, 257, 150, 128, 0.75}, {40, 300, 420, 200, 0.5},
                                   {136, 64, 128, 128, 0.9}};
  for (const Case& c : cases) expect_matches(p, dt, c, layout, kernel, Activation::none, false);
}

TEST_P(GpuTw, FusedBiasAndActivations) {
  TILESPARSE_SKIP_WITHOUT_GPU();
  for (Activation act : {Activation::none, Activation::relu, Activation::gelu}) {
    expect_matches(p, dt, {48, 160, 136, 64, 0.5}, layout, kernel, act, true);
    expect_matches(p, dt, {48, 160, 136, 64, 0.5}, layout, kernel, act, true, /*fuse=*/false);
  }
}

TEST_P(GpuTw, LongPipelinesAndTallActivations) {
  TILESPARSE_SKIP_WITHOUT_GPU();
  // 1024 K rows at 50% row pruning: ~12 steps of 64 (~24 of 32) through the stage ring;
  // many row blocks per item. With few items of many steps the wgmma kernel takes
  // 64-row CTAs (tw_wgmma_row_block) in the first three cases: 256 rows, 136 rows with
  // G = 64 (a last block of 8 rows), 200 rows at 0% (TMA boxes past M); the 2048-row
  // cases (3 steps or fewer) take 128.
  expect_matches(p, dt, {256, 1024, 256, 128, 0.5}, layout, kernel, Activation::relu, true);
  expect_matches(p, dt, {136, 1024, 192, 64, 0.5}, layout, kernel, Activation::gelu, true);
  expect_matches(p, dt, {200, 1024, 256, 128, 0.0}, layout, kernel, Activation::none, true);
  expect_matches(p, dt, {2048, 320, 256, 128, 0.75}, layout, kernel, Activation::none, true);
  expect_matches(p, dt, {2056, 192, 96, 32, 0.5}, layout, kernel, Activation::gelu, false);
}

TEST_P(GpuTw, NearFullTilesRunAsDenseTiles) {
  TILESPARSE_SKIP_WITHOUT_GPU();
  // Tiles keeping ~95% of K (every one of K's 64-row steps still used): the wgmma packing
  // runs them as all K rows from row 0 with zeros in the pruned ones (tw_plan.cpp), on
  // the TMA path; M 200 puts boxes past M, G = 32 takes the 32-column items.
  expect_matches(p, dt, {200, 1024, 256, 128, 0.1}, layout, kernel, Activation::relu, true);
  expect_matches(p, dt, {64, 512, 96, 32, 0.15}, layout, kernel, Activation::none, false);
}

TEST_P(GpuTw, RowMajorCallsRunEveryTileDenseWhereThatPays) {
  TILESPARSE_SKIP_WITHOUT_GPU();
  // Tiles keeping 60-75% of K's 64-row steps: a row-major call of the wgmma kernel runs
  // every kept tile as all K rows with zeros in the pruned ones and reads A in place
  // (tw_row_major_dense_pays, checked on these shapes by test_tw_plan); transposed calls
  // and the other kernels keep the gather. M 200 puts boxes past M; N 130 and G 32 give
  // items of uneven and scattered columns; emptied tiles put zero-step items beside the
  // dense ones.
  expect_matches(p, dt, {200, 512, 256, 128, 0.5}, layout, kernel, Activation::gelu, true);
  expect_matches(p, dt, {72, 256, 130, 32, 0.6}, layout, kernel, Activation::relu, false);
  if (p == Pattern::tw) {
    const Case c{136, 512, 384, 128, 0.5};
    const TwWeight tw = std::get<TwWeight>(tw_weight(p, c, dt));
    expect_weight_matches(without_rows(tw, {0, tw.tiles() - 1}), dt, c, layout, kernel, Activation::none, true);
  }
}

TEST_P(GpuTw, ZeroSparsityAndWeightPrunedEntirely) {
  TILESPARSE_SKIP_WITHOUT_GPU();
  // Every tile a run of whole steps: on the wgmma kernel row-major A is then read as
  // K-major TMA boxes in place (no Aᵀ copy), M 130 putting boxes past M. Every item's
  // columns are consecutive: a row-major C is written in 16-byte runs where the item
  // starts on a multiple of 8 columns and N is one (G 60: items at columns 0 and 120 with
  // a tail of 4, items at 60 and 180 element by element; N 100: element by element).
  expect_matches(p, dt, {72, 128, 256, 128, 0.0}, layout, kernel, Activation::relu, true);
  expect_matches(p, dt, {130, 256, 240, 60, 0.0}, layout, kernel, Activation::gelu, true);
  expect_matches(p, dt, {40, 128, 100, 32, 0.0}, layout, kernel, Activation::none, false);
  expect_matches(p, dt, {72, 128, 256, 128, 1.0}, layout, kernel, Activation::gelu, true);  // every column: epilogue(0)
}

TEST_P(GpuTw, TilesWithoutKeptRowsWriteTheEpilogue) {
  TILESPARSE_SKIP_WITHOUT_GPU();
  // The first, a middle and the last tile keep no rows; M 7 (register gathers) and 136;
  // at 0% the other tiles are runs of whole steps (TMA boxes; row-major A in place).
  for (const Case& c : {Case{7, 150, 300, 64, 0.5}, Case{136, 200, 260, 32, 0.6}, Case{72, 128, 256, 64, 0.0}}) {
    Weight w = tw_weight(p, c, dt);
    const TwWeight& tw = p == Pattern::tew ? std::get<TewWeight>(w).tw : std::get<TwWeight>(w);
    const TwWeight emptied = without_rows(tw, {0, tw.tiles() / 2, tw.tiles() - 1});
    if (p == Pattern::tew) {
      w = TewWeight{emptied, std::get<TewWeight>(w).residual};
    } else {
      w = emptied;
    }
    expect_weight_matches(w, dt, c, layout, kernel, Activation::gelu, true);
  }
}

TEST_P(GpuTw, PrunedColumnsInRowMajorWindowsAndPastThem) {
  TILESPARSE_SKIP_WITHOUT_GPU();
  // The tensor-core kernels write a row-major C's pruned columns in the windows of the
  // items around them (TwItem::window_begin) where tw_row_major_windows_pay says so (on
  // a GPU of up to 132 SMs, the first five cases): windows of ~100-170 columns at G 64,
  // many starting and ending off a multiple of 8 (M 1300: register gathers; N 4700: no
  // 16-byte stores; K 72: a partial step); G 128 at 75%; 0%, where the windows are the
  // items' runs. Then a plan without windows (99%: past kTwMaxWindowBlocks) and items of
  // 32 columns, whose pruned columns keep their own items. The transposed layout and
  // fp32 run the same cases.
  for (const Case& c : {Case{1300, 64, 1280, 64, 0.5}, Case{136, 64, 16400, 64, 0.75}, Case{520, 72, 4700, 64, 0.7},
                        Case{1500, 64, 3000, 128, 0.75}, Case{1100, 64, 2048, 64, 0.0}, Case{64, 128, 3000, 128, 0.99},
                        Case{1100, 64, 1280, 32, 0.5}})
    expect_matches(p, dt, c, layout, kernel, Activation::gelu, true);
}

TEST_P(GpuTw, RowMajorPassCopiesTheKeptRowsAndFillsC) {
  TILESPARSE_SKIP_WITHOUT_GPU();
  // Row-major A on the tensor cores: the pass before the kernel copies only the K rows the
  // weight keeps where they are few (tw_copy_kept_rows_pays; the kernel then runs the
  // weight on them, tw_on_kept_rows) and fills C with activation(bias) where most columns
  // are pruned (tw_fill_row_major_c_pays; the kernel then writes only the tiles' columns).
  // The TW cases take both (asserted on the weight; none has windows, too few CTAs):
  // kept rows not a multiple of 64, tiles of 32 columns, N not a multiple of 8 (the fill
  // element by element), M not a multiple of 64, K not a multiple of 4 (A read value by
  // value, a partial last tile of columns). TEW's merged weight keeps nearly every
  // row; the transposed layout and fp32 run the same cases.
  for (const Case& c : {Case{200, 1024, 520, 64, 0.97}, Case{1000, 256, 4104, 128, 0.995},
                        Case{136, 1024, 1003, 32, 0.995}, Case{200, 1001, 600, 64, 0.97}}) {
    const Weight w = tw_weight(p, c, dt);
    if (p == Pattern::tw) {
      const auto& tw = std::get<TwWeight>(w);
      EXPECT_TRUE(cuda::tw_copy_kept_rows_pays(c.k, static_cast<std::int64_t>(cuda::tw_kept_k_rows(tw).size())));
      EXPECT_TRUE(cuda::tw_fill_row_major_c_pays(c.n, static_cast<std::int64_t>(tw.col_map.size())));
    }
    expect_weight_matches(w, dt, c, layout, kernel, Activation::gelu, true);
    expect_weight_matches(w, dt, c, layout, kernel, Activation::none, false);
  }
}

TEST_P(GpuTw, CompactOutputHoldsTheKeptColumns) {
  TILESPARSE_SKIP_WITHOUT_GPU();
  if (p != Pattern::tw) {
    // A TEW residual can touch pruned columns, so TEW writes every column: refused, by name.
    const Case c{64, 96, 200, 32, 0.5};
    const auto da = gpu::DeviceMatrix::upload(HostMatrix::random(c.m, c.k, dt, fresh_seed()));
    const auto dw = gpu::DeviceWeight::upload(tw_weight(p, c, dt));
    gpu::DeviceMatrix dc(c.m, dw.kept_columns(), dt);
    gpu::DeviceOptions options;
    options.compact_output = true;
    options.kernel = kernel;
    const gpu::Stream stream;
    test::expect_error_mentioning([&] { gpu::matmul(da, dw, dc, options, stream); }, "compact output is a TW option");
    return;
  }
  struct CompactCase {
    Case c;
    bool first_tile_without_rows;  // its kept columns then hold activation(bias)
  };
  int unaligned = 0;  // cases whose compact C rows are not all 16-byte aligned (kept columns not a multiple of 8)
  for (const auto& [c, first_tile_without_rows] :
       {CompactCase{{130, 200, 300, 64, 0.75}, false}, CompactCase{{2048, 256, 384, 128, 0.5}, false},
        CompactCase{{33, 96, 200, 32, 0.5}, true}}) {
    Weight w = tw_weight(p, c, dt);
    if (first_tile_without_rows) w = without_rows(std::get<TwWeight>(w), {0});
    const auto& col_map = std::get<TwWeight>(w).col_map;
    const HostMatrix a = HostMatrix::random(c.m, c.k, dt, fresh_seed());
    const HostMatrix bias = HostMatrix::random(1, c.n, DType::f32, fresh_seed());
    MatmulOptions opt;
    opt.epilogue = {bias.values(), Activation::relu};
    HostMatrix full;
    matmul(a, w, full, opt);
    const std::int64_t kept = static_cast<std::int64_t>(col_map.size());
    if (kept % 8 != 0) ++unaligned;
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
    options.kernel = kernel;
    gpu::matmul(da, dw, dc, options, stream);
    stream.synchronize();
    const HostMatrix got = transposed ? dc.download().transposed() : dc.download();
    EXPECT_LE(relative_error(got, want), tolerance(dt))
        << to_string(dt) << " " << gpu::to_string(layout) << " M=" << c.m << " kernel "
        << (kernel.empty() ? "automatic" : kernel);
  }
  // A row-major compact C of such a width takes the epilogue's pieces (tw_output.cuh).
  EXPECT_GT(unaligned, 0);
}

// pattern_dtype_layout; the suite (Kernels, Mma) names the kernel choice.
std::string param_name(const ::testing::TestParamInfo<Param>& info) {
  return std::string(to_string(std::get<0>(info.param))) + "_" + std::string(to_string(std::get<1>(info.param))) + "_" +
         std::string(gpu::to_string(std::get<2>(info.param)));
}

INSTANTIATE_TEST_SUITE_P(
    Kernels, GpuTw,
    ::testing::Combine(::testing::Values(Pattern::tw, Pattern::tew), ::testing::Values(DType::f16, DType::bf16, DType::f32),
                       ::testing::Values(gpu::Layout::row_major, gpu::Layout::transposed),
                       ::testing::Values(Choice::automatic)),
    param_name);

INSTANTIATE_TEST_SUITE_P(
    Mma, GpuTw,
    ::testing::Combine(::testing::Values(Pattern::tw, Pattern::tew), ::testing::Values(DType::f16, DType::bf16),
                       ::testing::Values(gpu::Layout::row_major, gpu::Layout::transposed), ::testing::Values(Choice::mma)),
    param_name);

Weight tew_weight(const Case& c, DType dt, double delta) {
  PatternSpec spec;
  spec.pattern = Pattern::tew;
  spec.g = c.g;
  spec.delta = delta;
  return prune_magnitude(HostMatrix::random(c.k, c.n, dt, fresh_seed()), spec, c.sparsity);
}

// TEW residuals denser than the tiled residual kernel takes in one go (32 entries of a
// feature per K chunk of 64 or 32 rows), with M past its 256-wide tiles, K past its
// chunks and N past its 64-feature tiles; every dtype and layout. f16/bf16 run such a
// weight merged; f32 (CUDA cores) takes the residual pass.
TEST(GpuTewResidual, FeaturesWithMoreEntriesThanOneWindowPerChunk) {
  TILESPARSE_SKIP_WITHOUT_GPU();
  const Case c{264, 300, 200, 64, 0.2};
  for (DType dt : {DType::f16, DType::bf16, DType::f32}) {
    const Weight w = tew_weight(c, dt, 0.7);  // TW at 90%, 70% of the elements in the residual
    const EwWeight& residual = std::get<TewWeight>(w).residual;
    std::int64_t densest = 0;
    for (std::int64_t n = 0; n < c.n; ++n) densest = std::max(densest, residual.row_ptr[n + 1] - residual.row_ptr[n]);
    ASSERT_GT(densest, 3 * 64) << "the residual is not dense enough to test the window";
    for (gpu::Layout layout : {gpu::Layout::transposed, gpu::Layout::row_major})
      expect_weight_matches(w, dt, c, layout, "", Activation::gelu, true);
  }
}

// A sparse residual (δ = 0.002, G = 128: a few entries per tile row, each adding a
// whole tile row to the merged weight): f16/bf16 run it merged, f32 takes the residual
// pass, tiled (transposed, M % 8 == 0) and elementwise (row-major, or M = 133).
TEST(GpuTewResidual, SparseResiduals) {
  TILESPARSE_SKIP_WITHOUT_GPU();
  for (const Case& c : {Case{264, 512, 300, 128, 0.5}, Case{133, 512, 300, 128, 0.5}})
    for (DType dt : {DType::f16, DType::bf16, DType::f32}) {
      const Weight w = tew_weight(c, dt, 0.002);
      for (gpu::Layout layout : {gpu::Layout::transposed, gpu::Layout::row_major})
        for (Choice choice : {Choice::automatic, Choice::mma}) {
          if (dt == DType::f32 && choice == Choice::mma) continue;  // mma.sync runs 16-bit types only
          expect_weight_matches(w, dt, c, layout, forced_kernel(Pattern::tew, choice), Activation::relu, true);
        }
    }
}

// Residual entries in columns the TW part prunes entirely (s = 0.9) become kept columns
// of the merged weight.
TEST(GpuTewResidual, ResidualsInPrunedColumns) {
  TILESPARSE_SKIP_WITHOUT_GPU();
  for (const Case& c : {Case{264, 300, 200, 128, 0.75}, Case{130, 200, 300, 64, 0.9}})
    for (DType dt : {DType::f16, DType::bf16}) {
      const Weight w = tew_weight(c, dt, 0.05);
      for (gpu::Layout layout : {gpu::Layout::transposed, gpu::Layout::row_major})
        for (Choice choice : {Choice::automatic, Choice::mma})
          expect_weight_matches(w, dt, c, layout, forced_kernel(Pattern::tew, choice), Activation::gelu, true);
    }
}

// Items whose kept rows are consecutive and fill whole 64-row steps (TwItem::run_start)
// take the wgmma kernel's TMA copies, the others its gather, in one launch: tile 0 keeps
// every row, tile 1 the run 5..260 (256 rows), tile 2 the run 7..206 (200 rows, so it is
// gathered), tile 3 every third row. M = 264 and 8 put the boxes past M (zero-filled);
// G = 64 takes the 64-column items; row-major A runs through the launcher's Aᵀ copy.
TEST(GpuTwRuns, ConsecutiveKeptRowsAndGathersInOneLaunch) {
  TILESPARSE_SKIP_WITHOUT_GPU();
  const std::int64_t k = 320;
  for (std::int64_t g : {128, 64}) {
    const std::int64_t n = 4 * g;
    Mask mask(k, n, false);
    for (std::int64_t r = 0; r < k; ++r) {
      const bool keep[4] = {true, r >= 5 && r <= 260, r >= 7 && r <= 206, r % 3 == 0};
      for (std::int64_t c = 0; c < n; ++c) mask.set(r, c, keep[c / g]);
    }
    for (DType dt : {DType::f16, DType::bf16}) {
      const Weight w = TwWeight::from_dense(HostMatrix::random(k, n, dt, fresh_seed()), mask, g);
      for (std::int64_t m : {264, 8})
        for (gpu::Layout layout : {gpu::Layout::transposed, gpu::Layout::row_major})
          expect_weight_matches(w, dt, Case{m, k, n, g, 0.0}, layout, "", Activation::gelu, true);
    }
  }
}

// The table's choice for f16/bf16 TW on this device.
std::string automatic_tw_kernel() { return gpu::device_info().cc_major == 9 ? "cuda.tw.wgmma" : "cuda.tw.mma"; }

TEST(GpuTwKernelChoice, ForcedKernelsThatDoNotFitSayWhy) {
  TILESPARSE_SKIP_WITHOUT_GPU();
  const gpu::Stream stream;
  const auto tw = gpu::DeviceWeight::upload(tw_weight(Pattern::tw, {8, 64, 32, 32, 0.5}, DType::f16));
  const auto da = gpu::DeviceMatrix::upload(HostMatrix::random(8, 64, DType::f16, 1));
  gpu::DeviceMatrix dc(8, 32, DType::f16);
  const auto expect_error = [&](const std::string& kernel, const std::string& phrase) {
    gpu::DeviceOptions options;
    options.kernel = kernel;
    test::expect_error_mentioning([&] { gpu::matmul(da, tw, dc, options, stream); }, phrase);
    EXPECT_THROW(gpu::kernel_name(tw, gpu::Layout::row_major, kernel), Error) << kernel;
  };
  expect_error("cuda.tw.nope", "unknown kernel 'cuda.tw.nope'");
  expect_error("cuda.tew.mma", "kernel cuda.tew.mma runs pattern tew");
  expect_error("cuda.cublas", "kernel cuda.cublas runs pattern dense");
  expect_error("cuda.tw.simt", "with dtype f32, not pattern tw on backend cuda with dtype f16");
  if (gpu::device_info().cc_major != 9) {
    expect_error("cuda.tw.wgmma", "kernel cuda.tw.wgmma needs compute capability 9.x");
  } else {
    EXPECT_EQ(gpu::kernel_name(tw, gpu::Layout::row_major, "cuda.tw.wgmma"), "cuda.tw.wgmma");
  }
  EXPECT_EQ(gpu::kernel_name(tw, gpu::Layout::transposed, "cuda.tw.mma"), "cuda.tw.mma");
  EXPECT_EQ(gpu::kernel_name(tw, gpu::Layout::transposed), automatic_tw_kernel());
}

// One DeviceWeight run by both tensor-core kernels in turn keeps a plan per packing.
TEST(GpuTwKernelChoice, OneWeightRunByBothTensorCoreKernels) {
  TILESPARSE_SKIP_WITHOUT_GPU();
  if (gpu::device_info().cc_major != 9) GTEST_SKIP() << "cuda.tw.wgmma runs on compute capability 9.x only";
  const Case c{130, 200, 300, 64, 0.5};
  const Weight w = tw_weight(Pattern::tw, c, DType::f16);
  const HostMatrix a = HostMatrix::random(c.m, c.k, DType::f16, fresh_seed());
  HostMatrix want;
  matmul(a, w, want);
  const gpu::Stream stream;
  const auto da = gpu::DeviceMatrix::upload(a.transposed());
  const auto dw = gpu::DeviceWeight::upload(w);
  gpu::DeviceMatrix dc(c.n, c.m, DType::f16);
  for (const char* kernel : {"cuda.tw.wgmma", "cuda.tw.mma", "cuda.tw.wgmma", "cuda.tw.mma"}) {
    gpu::DeviceOptions options;
    options.layout = gpu::Layout::transposed;
    options.kernel = kernel;
    dc.poison(stream);
    gpu::matmul(da, dw, dc, options, stream);
    stream.synchronize();
    EXPECT_LE(relative_error(dc.download().transposed(), want), tolerance(DType::f16)) << kernel;
  }
}

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
      EXPECT_LE(relative_error(run_device(a, w, &bias, Activation::relu, gpu::Layout::transposed, ""), want),
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
  EXPECT_EQ(gpu::kernel_name(tw, gpu::Layout::transposed), automatic_tw_kernel());
}

}  // namespace
}  // namespace tilesparse

// tilesparse-bench: times the GPU matmul paths on the shapes of bench/shapes.csv against
// the same-run cuBLAS time of the dense weight (same dtype, same activation layout, same
// epilogue), checks each result against the CPU reference once, and appends one JSON
// line per measurement (DESIGN.md §6). --chain times a layer chain instead (chain.hpp).
#include <cuda_runtime.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <future>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

#include "bench/bench_args.hpp"
#include "bench/chain.hpp"
#include "bench/common.hpp"
#include "tilesparse/core/error.hpp"
#include "tilesparse/prune/project.hpp"

namespace ts = tilesparse;
namespace tb = tilesparse::bench;
using ts::gpu::Layout;

namespace {

// Element kept with probability density; for bw whole bk x bn blocks; for 24 two random
// positions of every group of four along K.
ts::Mask random_mask(const ts::PatternSpec& spec, std::int64_t k, std::int64_t n, double density, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  ts::Mask mask(k, n, false);
  if (spec.pattern == ts::Pattern::sp24) {
    for (std::int64_t j = 0; j < n; ++j)
      for (std::int64_t g = 0; g < k; g += 4) {
        int pos[4] = {0, 1, 2, 3};
        std::shuffle(pos, pos + 4, gen);
        for (int s = 0; s < 2; ++s)
          if (g + pos[s] < k) mask.set(g + pos[s], j, true);
      }
    return mask;
  }
  std::bernoulli_distribution keep(density);
  const std::int64_t bk = spec.pattern == ts::Pattern::bw ? spec.bk : 1;
  const std::int64_t bn = spec.pattern == ts::Pattern::bw ? spec.bn : 1;
  for (std::int64_t r0 = 0; r0 < k; r0 += bk)
    for (std::int64_t c0 = 0; c0 < n; c0 += bn) {
      if (!keep(gen)) continue;
      for (std::int64_t r = r0; r < std::min(k, r0 + bk); ++r)
        for (std::int64_t c = c0; c < std::min(n, c0 + bn); ++c) mask.set(r, c, true);
    }
  return mask;
}

// A benchmarked kernel: its row name, the pattern it runs, what it takes.
struct Kernel {
  std::string name;  // "pattern" field of the JSON row
  ts::PatternSpec spec;
  bool sparsity_fixed;  // dense and 24: the pattern fixes it
  bool tiled;           // tw/tew: one row per tile width G of --groups
  bool transposed;      // has a transposed-layout path
};

std::vector<Kernel> known_kernels(double delta) {
  ts::PatternSpec dense, ew, bw, sp24, tw, tew;
  ew.pattern = ts::Pattern::ew;
  bw.pattern = ts::Pattern::bw;
  sp24.pattern = ts::Pattern::sp24;
  sp24.keep = 2;
  sp24.group = 4;
  tw.pattern = ts::Pattern::tw;
  tew.pattern = ts::Pattern::tew;
  tew.delta = delta;
  return {{"cublas", dense, true, false, true},          {"cusparse-csr", ew, false, false, true},
          {"cusparse-bsr", bw, false, false, false},     {"cusparselt-24", sp24, true, false, false},
          {"tw", tw, false, true, true},                 {"tew", tew, false, true, true}};
}

std::vector<std::string> kernel_names() {
  std::vector<std::string> names;
  for (const auto& k : known_kernels(0.05)) names.push_back(k.name);
  return names;
}

ts::perf::Ceilings measure_ceilings(tb::Context& ctx, const std::string& device) {
  ts::perf::Ceilings c;
  c.device = device;
  const std::size_t bytes = std::size_t{1} << 30;
  ts::gpu::DeviceBuffer src(bytes), dst(bytes);
  src.fill_bytes(1, *ctx.stream);
  const double copy_us = ctx.timer->median_us(
      [&] {
        ts::require(cudaMemcpyAsync(dst.data(), src.data(), bytes, cudaMemcpyDeviceToDevice,
                                    static_cast<cudaStream_t>(ctx.stream->native())) == cudaSuccess,
                    "bench", "device copy failed");
      },
      3, 20);
  c.copy_gbps = 2.0 * bytes / (copy_us * 1e3);
  const std::int64_t s = 8192;
  const auto values = tb::random_values(s * s, 7);
  for (ts::DType t : {ts::DType::f32, ts::DType::f16, ts::DType::bf16}) {
    const ts::HostMatrix m(s, s, t, values);
    const auto a = ts::gpu::DeviceMatrix::upload(m);
    const auto w = ts::gpu::DeviceWeight::upload(ts::Weight(ts::DenseWeight{m}));
    ts::gpu::DeviceMatrix out(s, s, t);
    ts::MatmulOptions opt;
    opt.backend = ts::Backend::cuda;
    const double us = ctx.timer->median_us([&] { ts::gpu::matmul(a, w, out, opt, *ctx.stream); }, 3, 20);
    const double tflops = 2.0 * s * s * s / (us * 1e6);
    (t == ts::DType::f32 ? c.peak_tflops_f32 : t == ts::DType::f16 ? c.peak_tflops_f16 : c.peak_tflops_bf16) = tflops;
  }
  c.method = "tilesparse-bench --measure-ceilings on " + tb::now_iso() +
             ": device-to-device copy of 1 GiB (bytes read + written), cuBLAS 8192^3 on random data "
             "(fp32 without TF32); median of 20 runs after 3 warm-ups, L2 flushed";
  return c;
}

// The default ceilings file of a device: its model word, "NVIDIA H100 80GB HBM3" ->
// bench/device_h100.json, so each GPU keeps its own measured ceilings.
std::string default_ceilings_path(const std::string& device) {
  std::istringstream words(device);
  std::string word, model;
  while (words >> word)
    if (word != "NVIDIA") {
      model = word;
      break;
    }
  std::string slug;
  for (const char ch : model)
    if (std::isalnum(static_cast<unsigned char>(ch))) slug += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return "bench/device_" + (slug.empty() ? std::string("gpu") : slug) + ".json";
}

Layout parse_layout(const std::string& s) { return s == "transposed" ? Layout::transposed : Layout::row_major; }

// What one dtype of one shape needs across kernels: inputs in each layout, the dense
// weight, the bias, and the cuBLAS baseline per layout.
struct DtypeInputs {
  ts::DType dtype;
  ts::HostMatrix a_host, w_dense;
  std::map<Layout, ts::gpu::DeviceMatrix> a;
  std::map<Layout, double> base_us;  // layouts without a cuBLAS time are skipped
};

struct Sweep {
  std::vector<Kernel> kernels;
  std::vector<ts::DType> dtypes;
  std::vector<double> sparsities;
  std::vector<std::int64_t> groups;
  std::vector<Layout> layouts;
  tb::EpilogueChoice epilogue;
  bool fuse = true, compact = false;
  std::map<ts::Pattern, std::string> forced_kernels;  // --kernel: table entry per pattern
};

struct Tally {
  int rows = 0, failed = 0, skipped = 0;
  std::map<std::string, int> rows_of;  // per kernel name
};

void print_header() {
  std::printf("%-26s %-14s %-5s %-10s %4s %6s %10s %10s %8s %9s %7s %10s\n", "shape", "kernel", "dtype", "layout", "G",
              "sparse", "median_us", "cublas_us", "speedup", "bound_us", "%bound", "rel_err");
}

// One kernel x weight x layout: measure, check, write the row, print it.
void run_one(tb::Context& ctx, const Sweep& sw, const tb::Shape& sh, const Kernel& kern, const ts::PatternSpec& spec,
             DtypeInputs& in, const ts::Weight& w, const ts::gpu::DeviceWeight& dw, const tb::Reference& ref,
             const ts::gpu::DeviceBuffer* bias, Layout layout, double target, std::int64_t rows_read, Tally& tally) {
  const ts::DType dt = in.dtype;
  const std::string g_str = kern.tiled ? std::to_string(spec.g) : "-";
  const auto skip = [&](const std::string& why) {
    ++tally.skipped;
    std::printf("%-26s %-14s %-5s %-10s %4s skipped: %s\n", sh.id.c_str(), kern.name.c_str(),
                std::string(ts::to_string(dt)).c_str(), std::string(ts::gpu::to_string(layout)).c_str(), g_str.c_str(),
                why.c_str());
    std::fflush(stdout);
  };
  if (!in.base_us.contains(layout)) return skip("no cuBLAS baseline in this layout");
  if (ctx.dry_run) {
    ++tally.rows;
    ++tally.rows_of[kern.name];
    std::printf("%-26s %-14s %-5s %-10s %4s %6.3f (dry run: weight and reference built)\n", sh.id.c_str(),
                kern.name.c_str(), std::string(ts::to_string(dt)).c_str(), std::string(ts::gpu::to_string(layout)).c_str(),
                g_str.c_str(), spec.pattern == ts::Pattern::dense ? 0.0 : ts::sparsity(w));
    return;
  }
  const bool compact = sw.compact && spec.pattern == ts::Pattern::tw;
  const std::vector<std::int32_t>* col_map = compact ? &std::get<ts::TwWeight>(w).col_map : nullptr;
  const std::int64_t out_cols = compact ? dw.kept_columns() : sh.n;
  const bool is_base = spec.pattern == ts::Pattern::dense;
  tb::Measured r;
  try {
    ts::gpu::DeviceMatrix c = tb::output_for(sh.m, out_cols, dt, layout);
    ts::gpu::DeviceOptions opt;
    opt.bias = bias;
    opt.activation = sw.epilogue.activation;
    opt.layout = layout;
    opt.fuse_epilogue = sw.fuse;
    opt.compact_output = compact;
    if (const auto forced = sw.forced_kernels.find(spec.pattern); forced != sw.forced_kernels.end())
      opt.kernel = forced->second;
    r = tb::measure(ctx, dw, in.a.at(layout), c, opt, ref, col_map);
  } catch (const ts::Error& e) {  // no kernel for this pattern, dtype, layout or device, or the forced one does not fit
    if (is_base) in.base_us.erase(layout);
    return skip(e.what());
  }
  if (is_base) in.base_us[layout] = r.us;
  const double base_us = in.base_us.at(layout);
  const double achieved = is_base ? 0.0 : ts::sparsity(w);
  auto cost = ts::perf::matmul_cost(spec, sh.m, sh.k, sh.n, dt, achieved, rows_read);
  if (compact) cost.bytes.outputs = static_cast<double>(sh.m * out_cols) * static_cast<double>(ts::size_of(dt));
  const auto b = ts::perf::bound(cost, dt, ctx.ceilings);
  const bool ok = !std::isnan(r.err) && r.err <= tb::tolerance(dt);
  ++tally.rows;
  ++tally.rows_of[kern.name];
  if (!ok) ++tally.failed;

  nlohmann::json params = spec.params();
  params["kernel"] = kern.name;
  params["impl"] = r.impl;
  params["layout"] = ts::gpu::to_string(layout);
  params["epilogue"] = sw.epilogue.name;
  if (!kern.sparsity_fixed) params["target_sparsity"] = target;
  if (sw.epilogue.bias || sw.epilogue.activation != ts::Activation::none) params["fuse_epilogue"] = sw.fuse;
  if (spec.pattern == ts::Pattern::tw) params["output"] = compact ? "compact" : "full";
  nlohmann::json row = tb::row_common(ctx, "matmul", kern.name, dt, sh.m, sh.k, sh.n, achieved);
  row["shape_id"] = sh.id;
  row["params"] = params;
  tb::row_timing(row, r.us, base_us, cost.flops, cost.bytes.total(), b.us(), r.err);
  tb::write_row(ctx, row);
  std::printf("%-26s %-14s %-5s %-10s %4s %6.3f %10.2f %10.2f %8.3f %9.2f %6.1f%% %10.2e%s\n", sh.id.c_str(),
              kern.name.c_str(), std::string(ts::to_string(dt)).c_str(), std::string(ts::gpu::to_string(layout)).c_str(),
              g_str.c_str(), achieved, r.us, base_us, base_us / r.us, b.us(), 100.0 * b.us() / r.us, r.err,
              ok ? "" : "  FAILED CHECK");
  std::fflush(stdout);
}

// A weight of every dtype at one sparsity, the reference rows of each, and the K rows
// it reads (ts::nonzero_rows: the roofline's activation bytes).
struct Prepared {
  std::vector<ts::Weight> weights;
  std::vector<tb::Reference> refs;
  std::vector<std::int64_t> rows_read;
};

Prepared prepare(const Kernel& kern, const ts::PatternSpec& spec, double sp, std::uint64_t mask_seed,
                 const ts::HostMatrix* scores, const std::vector<DtypeInputs>& inputs, const ts::Epilogue& epilogue) {
  const std::int64_t k = inputs.front().w_dense.rows(), n = inputs.front().w_dense.cols();
  ts::PatternMask pm;
  if (kern.tiled)
    pm = ts::project(*scores, spec, sp);
  else
    pm.mask = random_mask(spec, k, n, 1.0 - sp, mask_seed);
  Prepared p;
  for (const DtypeInputs& in : inputs) {
    p.weights.push_back(ts::make_weight(in.w_dense, pm, spec));
    p.refs.push_back(tb::reference(in.a_host, p.weights.back(), epilogue));
    p.rows_read.push_back(ts::nonzero_rows(p.weights.back()));
  }
  return p;
}

void run_shape(tb::Context& ctx, const Sweep& sw, const tb::Shape& sh, std::uint64_t& seed, Tally& tally) {
  const auto t0 = std::chrono::steady_clock::now();
  const auto w_values = tb::random_values(sh.k * sh.n, seed++);
  const auto a_values = tb::random_values(sh.m * sh.k, seed++);
  const ts::HostMatrix bias_host(1, sh.n, ts::DType::f32, tb::random_values(sh.n, seed++));
  ts::gpu::DeviceBuffer bias_dev;
  if (sw.epilogue.bias && !ctx.dry_run) {
    bias_dev = ts::gpu::DeviceBuffer(static_cast<std::size_t>(sh.n) * sizeof(float));
    bias_dev.upload(bias_host.values().data(), bias_dev.bytes());
  }
  const ts::gpu::DeviceBuffer* bias = sw.epilogue.bias ? &bias_dev : nullptr;
  ts::Epilogue host_epilogue;
  if (sw.epilogue.bias) host_epilogue.bias = bias_host.values();
  host_epilogue.activation = sw.epilogue.activation;

  const auto upload = [&](const ts::Weight& w) {
    return ctx.dry_run ? ts::gpu::DeviceWeight() : ts::gpu::DeviceWeight::upload(w);
  };

  // Inputs and the cuBLAS baseline of every dtype and layout first: every later row's ratio is to these.
  const Kernel cublas = known_kernels(0.05).front();
  std::vector<DtypeInputs> inputs;
  for (const ts::DType dt : sw.dtypes) {
    DtypeInputs in{dt, ts::HostMatrix(sh.m, sh.k, dt, a_values), ts::HostMatrix(sh.k, sh.n, dt, w_values), {}, {}};
    const ts::Weight w(ts::DenseWeight{in.w_dense});
    const auto dw = upload(w);
    const tb::Reference ref = tb::reference(in.a_host, w, host_epilogue);
    for (const Layout layout : sw.layouts) {
      if (!ctx.dry_run) in.a.emplace(layout, tb::upload_activation(in.a_host, layout));
      in.base_us[layout] = 0;  // present: run_one measures it (its row is always written)
      run_one(ctx, sw, sh, cublas, cublas.spec, in, w, dw, ref, bias, layout, 0.0, sh.k, tally);
    }
    inputs.push_back(std::move(in));
  }

  // |W| in f32: the projection's scores, once per shape (the dense random weight is made once per shape too).
  std::optional<ts::HostMatrix> scores;
  if (std::any_of(sw.kernels.begin(), sw.kernels.end(), [](const Kernel& k) { return k.tiled; }))
    scores = ts::magnitude_scores(ts::HostMatrix(sh.k, sh.n, ts::DType::f32, w_values));
  const std::size_t batch = std::max(1u, std::thread::hardware_concurrency());
  for (const Kernel& kern : sw.kernels) {
    if (kern.name == "cublas") continue;
    const std::vector<double> sps =
        kern.sparsity_fixed ? std::vector<double>{kern.spec.pattern == ts::Pattern::sp24 ? 0.5 : 0.0} : sw.sparsities;
    const std::vector<std::int64_t> groups = kern.tiled ? sw.groups : std::vector<std::int64_t>{0};
    for (const std::int64_t g : groups) {
      ts::PatternSpec spec = kern.spec;
      if (kern.tiled) spec.g = g;
      // project() and make_weight() run on one core each: the weights of up to `batch`
      // sparsities are built at once while the device measures them in order.
      for (std::size_t i0 = 0; i0 < sps.size(); i0 += batch) {
        std::vector<std::future<Prepared>> jobs;
        for (std::size_t i = i0; i < std::min(sps.size(), i0 + batch); ++i)
          jobs.push_back(std::async(std::launch::async, [&, sp = sps[i], mask_seed = seed++] {
            return prepare(kern, spec, sp, mask_seed, scores ? &*scores : nullptr, inputs, host_epilogue);
          }));
        for (std::size_t i = i0; i < std::min(sps.size(), i0 + batch); ++i) {
          Prepared p = jobs[i - i0].get();
          for (std::size_t d = 0; d < inputs.size(); ++d) {
            const auto dw = upload(p.weights[d]);
            for (const Layout layout : sw.layouts) {
              if (layout == Layout::transposed && !kern.transposed) continue;
              run_one(ctx, sw, sh, kern, spec, inputs[d], p.weights[d], dw, p.refs[d], bias, layout, sps[i],
                      p.rows_read[d], tally);
            }
          }
        }
      }
    }
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("# %s done in %.1f s\n", sh.id.c_str(), s);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tilesparse-bench: GPU matmul paths vs the same-run cuBLAS dense time (same dtype, layout, epilogue)"};
  app.get_formatter()->column_width(34);
  app.option_defaults()->always_capture_default();
  std::string shapes_path = "bench/shapes.csv", suites, ids, kernels = "cublas,cusparse-csr,cusparselt-24";
  std::string dtypes = "f16", sparsities = "0.5,0.75,0.9", groups = "32,64,128", layouts = "row_major,transposed";
  std::string epilogue = "none", out_path, ceilings_path, commit = "unknown";
  std::string chain_dims = "1024,4096,1024";
  std::string forced_kernels;
  int warmup = 5, runs = 50;
  double delta = 0.05, chain_sparsity = 0.75;
  std::int64_t chain_m = 4096, chain_g = 128;
  bool measure_only = false, remeasure = false, unfused = false, compact = false, chain = false, dry_run = false;
  app.add_option("--shapes", shapes_path, "shapes CSV (id,suite,m,k,n,note)");
  app.add_option("--suites", suites, "comma list of suites to run (default: all)");
  app.add_option("--ids", ids, "comma list of shape ids to run (default: all)");
  app.add_option("--kernels", kernels,
                 "comma list of cublas, cusparse-csr, cusparse-bsr, cusparselt-24, tw, tew (the cuBLAS baseline row "
                 "of each dtype and layout is written whatever the list)");
  app.add_option("--dtypes", dtypes, "comma list of f32, f16, bf16 (f32 tw/tew: the CUDA-core kernels; f32 cuBLAS: no TF32)");
  app.add_option("--sparsity,--sparsities", sparsities,
                 "comma list of sparsities in [0, 1] for ew/bw/tw/tew; 'sweep' = 0,0.1,...,0.7,0.75,0.8,0.9,0.95,0.99");
  app.add_option("--groups", groups, "comma list of TW/TEW tile widths G");
  app.add_option("--delta", delta, "TEW: share of elements restored into the CSR residual")->check(CLI::Range(0.0, 1.0));
  app.add_option("--layouts", layouts,
                 "comma list of row_major, transposed (Aᵀ in, Cᵀ out; cublas, cusparse-csr, tw, tew only); each "
                 "layout's rows are compared with cuBLAS in the same layout");
  app.add_option("--epilogue", epilogue, "none, bias, bias-relu or bias-gelu: bias on the device, given to cuBLAS too");
  app.add_option("--kernel", forced_kernels,
                 "comma list of dispatch-table entries to run instead of the table's choice, at most one per pattern "
                 "(e.g. cuda.tw.mma,cuda.tew.mma to time the mma.sync kernels where cuda.tw.wgmma would run); "
                 "params.impl of each row names the kernel that ran");
  app.add_flag("--unfused", unfused, "run the epilogue as a separate pass even where a kernel fuses it");
  app.add_flag("--compact-output", compact, "tw: write only the kept output columns (the bound counts those bytes)");
  app.add_flag("--chain", chain, "time the layer chain breakdown (TW row-major/transposed, unfused/fused, vs cuBLAS) "
                                 "instead of the shape sweep");
  app.add_option("--chain-m", chain_m, "chain: activation rows M")->check(CLI::PositiveNumber);
  app.add_option("--chain-dims", chain_dims, "chain: feature sizes in, hidden..., out (GELU between layers)");
  app.add_option("--chain-g", chain_g, "chain: TW tile width")->check(CLI::PositiveNumber);
  app.add_option("--chain-sparsity", chain_sparsity, "chain: TW sparsity of every layer")->check(CLI::Range(0.0, 1.0));
  app.add_option("--out", out_path, "JSON lines file to append to (default: none)");
  app.add_option("--ceilings", ceilings_path,
                 "roofline ceilings JSON, measured and written if missing (default bench/device_<model>.json, e.g. "
                 "device_h100.json)");
  app.add_flag("--measure-ceilings", remeasure, "measure the ceilings again and overwrite the file");
  app.add_flag("--ceilings-only", measure_only, "stop after the ceilings");
  app.add_option("--commit", commit, "commit id recorded in each row");
  app.add_flag("--dry-run", dry_run,
               "no device: build every weight and reference row the run would measure, print the plan and the CPU time");
  app.add_option("--warmup", warmup, "untimed runs before timing")->check(CLI::NonNegativeNumber);
  app.add_option("--runs", runs, "timed runs (median taken); at least 50 for results")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  try {
    // Arguments first, so a typo fails before the device is touched.
    Sweep sw;
    for (const auto& name : tb::parse_names(kernels, kernel_names(), "--kernels"))
      for (const auto& k : known_kernels(delta))
        if (k.name == name) sw.kernels.push_back(k);
    for (const auto& d : tb::split(dtypes)) sw.dtypes.push_back(ts::parse_dtype(d));
    ts::require(!sw.dtypes.empty(), "bench", "--dtypes: empty list");
    sw.sparsities = tb::parse_sparsities(sparsities, "--sparsities");
    sw.groups = tb::parse_positive_ints(groups, "--groups");
    for (const auto& l : tb::parse_names(layouts, {"row_major", "transposed"}, "--layouts"))
      sw.layouts.push_back(parse_layout(l));
    sw.epilogue = tb::parse_epilogue(epilogue);
    sw.fuse = !unfused;
    sw.compact = compact;
    sw.forced_kernels = tb::parse_forced_kernels(forced_kernels, ts::kernel_pattern, "--kernel");
    tb::ChainConfig cc;
    cc.m = chain_m;
    cc.dims = tb::parse_positive_ints(chain_dims, "--chain-dims", /*keep_repeats=*/true);
    cc.g = chain_g;
    cc.sparsity = chain_sparsity;
    cc.layouts = sw.layouts;
    if (sw.forced_kernels.contains(ts::Pattern::tw)) cc.tw_kernel = sw.forced_kernels.at(ts::Pattern::tw);
    ts::require(cc.dims.size() >= 2, "bench", "--chain-dims: need at least two feature sizes");
    // Checked here, not mid-sweep: `tew` at s needs tw at s + delta, capped at 1 by the projector.
    for (const auto& k : sw.kernels) k.spec.check();

    tb::Context ctx;
    ctx.warmup = warmup;
    ctx.runs = runs;
    ctx.commit = commit;
    ctx.dry_run = dry_run;
    std::optional<ts::gpu::Stream> stream;
    std::optional<tb::Timer> timer;
    std::ofstream out;
    if (!dry_run) {
      const auto info = ts::gpu::device_info();
      ts::require(info.present, "bench", "no GPU: " + info.reason + " (--dry-run builds the inputs without one)");
      stream.emplace();
      timer.emplace(*stream, 2 * std::max<std::size_t>(info.l2_bytes, 64u << 20));
      ctx.stream = &*stream;
      ctx.timer = &*timer;
      ctx.device = info.name;
      if (!out_path.empty()) {
        out.open(out_path, std::ios::app);
        ts::require(out.good(), "bench", "cannot append to '" + out_path + "'");
        ctx.out = &out;
      }
    }

    if (!dry_run && ceilings_path.empty()) ceilings_path = default_ceilings_path(ctx.device);
    if (!dry_run && (remeasure || !std::filesystem::exists(ceilings_path))) {
      const auto c = measure_ceilings(ctx, ctx.device);
      c.save(ceilings_path);
      std::printf("ceilings (%s): copy %.0f GB/s, cuBLAS f32 %.1f, f16 %.1f, bf16 %.1f TFLOP/s -> %s\n", ctx.device.c_str(),
                  c.copy_gbps, c.peak_tflops_f32, c.peak_tflops_f16, c.peak_tflops_bf16, ceilings_path.c_str());
    }
    if (measure_only) return 0;
    if (!dry_run) {
      ctx.ceilings = ts::perf::Ceilings::load(ceilings_path);
      // Bounds from another GPU's ceilings would be silently wrong.
      ts::require(ctx.ceilings.device == ctx.device, "bench",
                  "'" + ceilings_path + "' holds the ceilings of '" + ctx.ceilings.device + "', not of this '" +
                      ctx.device + "': pass that device's --ceilings file or --measure-ceilings to measure these");
    }

    if (chain) {
      bool ok = true;
      for (const ts::DType dt : sw.dtypes) ok = tb::run_chain(ctx, cc, dt) && ok;
      return ok ? 0 : 1;
    }

    const auto shapes = tb::read_shapes(shapes_path, tb::split(suites), tb::split(ids));
    ts::require(!shapes.empty(), "bench", "no shape of '" + shapes_path + "' matches --suites/--ids");
    for (const auto& [pattern, name] : sw.forced_kernels)
      std::printf("# %s rows run %s\n", std::string(ts::to_string(pattern)).c_str(), name.c_str());
    print_header();
    const auto t_start = std::chrono::steady_clock::now();
    Tally tally;
    std::uint64_t seed = 1;
    for (const auto& sh : shapes) run_shape(ctx, sw, sh, seed, tally);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    std::printf("# %d rows%s, %d failed the check, %d skipped, %.1f s\n", tally.rows, dry_run ? " planned" : "",
                tally.failed, tally.skipped, secs);
    bool missing = false;
    for (const auto& k : sw.kernels)
      if (!tally.rows_of.contains(k.name)) {
        std::printf("# kernel %s produced no row\n", k.name.c_str());
        missing = true;
      }
    return tally.failed == 0 && !missing ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
}

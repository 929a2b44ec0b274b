// tilesparse-bench: times the GPU matmul paths on the shapes of bench/shapes.csv against
// the same-run cuBLAS time of the dense weight, checks each result against the CPU
// reference once, and appends one JSON line per measurement (DESIGN.md §6).
#include <cuda_runtime.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "bench/timing.hpp"
#include "tilesparse/core/error.hpp"
#include "tilesparse/core/tensor.hpp"
#include "tilesparse/perf/roofline.hpp"

namespace ts = tilesparse;

namespace {

struct Shape {
  std::string id, suite;
  std::int64_t m, k, n;
};

std::vector<std::string> split(const std::string& s, char sep = ',') {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string part; std::getline(ss, part, sep);)
    if (!part.empty()) out.push_back(part);
  return out;
}

bool listed(const std::vector<std::string>& list, const std::string& x) {
  return list.empty() || std::find(list.begin(), list.end(), x) != list.end();
}

std::vector<Shape> read_shapes(const std::string& path, const std::vector<std::string>& suites,
                               const std::vector<std::string>& ids) {
  std::ifstream in(path);
  ts::require(in.good(), "bench", "cannot open shapes file '" + path + "'");
  std::vector<Shape> shapes;
  std::string line;
  std::getline(in, line);  // header: id,suite,m,k,n,note
  for (int row = 2; std::getline(in, line); ++row) {
    const auto f = split(line);
    ts::require(f.size() >= 5, "bench", path + ":" + std::to_string(row) + ": expected id,suite,m,k,n,note");
    Shape s{f[0], f[1], std::stoll(f[2]), std::stoll(f[3]), std::stoll(f[4])};
    if (listed(suites, s.suite) && listed(ids, s.id)) shapes.push_back(s);
  }
  return shapes;
}

// Uniform [-1, 1) values, filled by all cores (the largest weights hold 1e8 values).
std::vector<float> random_values(std::int64_t count, std::uint64_t seed) {
  std::vector<float> v(static_cast<std::size_t>(count));
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  const std::int64_t chunk = (count + threads - 1) / threads;
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      std::mt19937_64 gen(seed * 1000003 + t);
      std::uniform_real_distribution<float> u(-1.0f, 1.0f);
      for (std::int64_t i = t * chunk; i < std::min(count, (t + 1) * chunk); ++i) v[i] = u(gen);
    });
  }
  for (auto& th : pool) th.join();
  return v;
}

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

// A benchmarked kernel: its row name, the pattern it runs, and the sparsities it takes.
struct Kernel {
  std::string name;  // "pattern" field of the JSON row
  ts::PatternSpec spec;
  bool sparsity_fixed;  // dense and 24: the pattern fixes it
};

std::vector<Kernel> known_kernels() {
  ts::PatternSpec dense, ew, bw, sp24;
  ew.pattern = ts::Pattern::ew;
  bw.pattern = ts::Pattern::bw;
  sp24.pattern = ts::Pattern::sp24;
  sp24.keep = 2;
  sp24.group = 4;
  return {{"cublas", dense, true}, {"cusparse-csr", ew, false}, {"cusparse-bsr", bw, false}, {"cusparselt-24", sp24, true}};
}

std::string now_iso() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// Rows checked against the CPU reference: all of a small M, else 8 spread over M.
std::vector<std::int64_t> sample_rows(std::int64_t m) {
  std::vector<std::int64_t> rows;
  if (m <= 16) {
    for (std::int64_t i = 0; i < m; ++i) rows.push_back(i);
  } else {
    for (int i = 0; i < 8; ++i) rows.push_back(i * (m - 1) / 7);
  }
  return rows;
}

// Largest per-row ||out - ref|| / ||ref|| over the sampled rows (NaN if any NaN).
double check_rows(const ts::gpu::DeviceMatrix& c, const ts::HostMatrix& a, const ts::Weight& w) {
  const std::int64_t k = a.cols(), n = c.cols();
  const std::size_t es = ts::size_of(c.dtype());
  double worst = 0;
  for (const std::int64_t r : sample_rows(c.rows())) {
    std::vector<float> a_row(a.values().begin() + r * k, a.values().begin() + (r + 1) * k);
    const ts::HostMatrix a1(1, k, a.dtype(), a_row);
    ts::HostMatrix want;
    ts::matmul(a1, w, want);
    ts::Tensor t{ts::elem_type_of(c.dtype()), {1, n}, std::vector<std::byte>(static_cast<std::size_t>(n) * es)};
    ts::require(cudaMemcpy(t.bytes.data(), static_cast<const std::byte*>(c.data()) + r * n * es, t.bytes.size(),
                           cudaMemcpyDeviceToHost) == cudaSuccess,
                "bench", "copy of output row failed");
    const double e = ts::relative_error(ts::to_matrix(t, "output row"), want);
    if (std::isnan(e)) return e;
    worst = std::max(worst, e);
  }
  return worst;
}

struct Context {
  const ts::gpu::Stream& stream;
  ts::bench::Timer& timer;
  int warmup, runs;
};

struct Measured {
  double us, err;
};

Measured measure(Context& ctx, const ts::Weight& w, const ts::gpu::DeviceMatrix& a, const ts::HostMatrix& a_host) {
  const ts::gpu::DeviceWeight dw = ts::gpu::DeviceWeight::upload(w);
  ts::gpu::DeviceMatrix c(a.rows(), dw.n(), dw.dtype());
  c.poison(ctx.stream);
  ts::MatmulOptions opt;
  opt.backend = ts::Backend::cuda;
  ts::gpu::matmul(a, dw, c, opt, ctx.stream);  // first call builds and caches the vendor forms
  ctx.stream.synchronize();
  const double err = check_rows(c, a_host, w);
  const double us = ctx.timer.median_us([&] { ts::gpu::matmul(a, dw, c, opt, ctx.stream); }, ctx.warmup, ctx.runs);
  return {us, err};
}

ts::perf::Ceilings measure_ceilings(Context& ctx, const std::string& device) {
  ts::perf::Ceilings c;
  c.device = device;
  const std::size_t bytes = std::size_t{1} << 30;
  ts::gpu::DeviceBuffer src(bytes), dst(bytes);
  src.fill_bytes(1, ctx.stream);
  const double copy_us = ctx.timer.median_us(
      [&] {
        ts::require(cudaMemcpyAsync(dst.data(), src.data(), bytes, cudaMemcpyDeviceToDevice,
                                    static_cast<cudaStream_t>(ctx.stream.native())) == cudaSuccess,
                    "bench", "device copy failed");
      },
      3, 20);
  c.copy_gbps = 2.0 * bytes / (copy_us * 1e3);
  const std::int64_t s = 8192;
  const auto values = random_values(s * s, 7);
  for (ts::DType t : {ts::DType::f32, ts::DType::f16, ts::DType::bf16}) {
    const ts::HostMatrix m(s, s, t, values);
    const auto a = ts::gpu::DeviceMatrix::upload(m);
    const auto w = ts::gpu::DeviceWeight::upload(ts::Weight(ts::DenseWeight{m}));
    ts::gpu::DeviceMatrix out(s, s, t);
    ts::MatmulOptions opt;
    opt.backend = ts::Backend::cuda;
    const double us = ctx.timer.median_us([&] { ts::gpu::matmul(a, w, out, opt, ctx.stream); }, 3, 20);
    const double tflops = 2.0 * s * s * s / (us * 1e6);
    (t == ts::DType::f32 ? c.peak_tflops_f32 : t == ts::DType::f16 ? c.peak_tflops_f16 : c.peak_tflops_bf16) = tflops;
  }
  c.method = "tilesparse-bench --measure-ceilings on " + now_iso() +
             ": device-to-device copy of 1 GiB (bytes read + written), cuBLAS 8192^3 on random data "
             "(fp32 without TF32); median of 20 runs after 3 warm-ups, L2 flushed";
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tilesparse-bench: GPU matmul paths vs the same-run cuBLAS dense time"};
  std::string shapes_path = "bench/shapes.csv", suites, ids, kernels = "cublas,cusparse-csr,cusparselt-24";
  std::string dtypes = "f16", sparsities = "0.5,0.75,0.9", out_path, ceilings_path = "bench/device_h100.json";
  std::string commit = "unknown";
  int warmup = 5, runs = 50;
  bool measure_only = false, remeasure = false;
  app.add_option("--shapes", shapes_path, "shapes CSV (id,suite,m,k,n,note)");
  app.add_option("--suites", suites, "comma list of suites to run (default: all)");
  app.add_option("--ids", ids, "comma list of shape ids to run (default: all)");
  app.add_option("--kernels", kernels, "comma list of cublas, cusparse-csr, cusparse-bsr, cusparselt-24");
  app.add_option("--dtypes", dtypes, "comma list of f32, f16, bf16");
  app.add_option("--sparsity", sparsities, "comma list of sparsities for ew/bw");
  app.add_option("--out", out_path, "JSON lines file to append to (default: none)");
  app.add_option("--ceilings", ceilings_path, "roofline ceilings JSON (measured and written if missing)");
  app.add_flag("--measure-ceilings", remeasure, "measure the ceilings again and overwrite the file");
  app.add_flag("--ceilings-only", measure_only, "stop after the ceilings");
  app.add_option("--commit", commit, "commit id recorded in each row");
  app.add_option("--warmup", warmup, "untimed runs before timing")->check(CLI::NonNegativeNumber);
  app.add_option("--runs", runs, "timed runs (median taken); at least 50 for results")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  try {
    const auto info = ts::gpu::device_info();
    ts::require(info.present, "bench", "no GPU: " + info.reason);
    const ts::gpu::Stream stream;
    ts::bench::Timer timer(stream, 2 * std::max<std::size_t>(info.l2_bytes, 64u << 20));
    Context ctx{stream, timer, warmup, runs};

    if (remeasure || !std::filesystem::exists(ceilings_path)) {
      const auto c = measure_ceilings(ctx, info.name);
      c.save(ceilings_path);
      std::printf("ceilings (%s): copy %.0f GB/s, cuBLAS f32 %.1f, f16 %.1f, bf16 %.1f TFLOP/s -> %s\n", info.name.c_str(),
                  c.copy_gbps, c.peak_tflops_f32, c.peak_tflops_f16, c.peak_tflops_bf16, ceilings_path.c_str());
    }
    if (measure_only) return 0;
    const auto ceilings = ts::perf::Ceilings::load(ceilings_path);

    std::vector<Kernel> chosen;
    for (const auto& name : split(kernels)) {
      bool found = false;
      for (const auto& k : known_kernels())
        if (k.name == name) chosen.push_back(k), found = true;
      ts::require(found, "bench", "unknown kernel '" + name + "' (cublas, cusparse-csr, cusparse-bsr, cusparselt-24)");
    }
    std::vector<ts::DType> dts;
    for (const auto& d : split(dtypes)) dts.push_back(ts::parse_dtype(d));
    std::vector<double> sps;
    for (const auto& s : split(sparsities)) sps.push_back(std::stod(s));

    std::ofstream out;
    if (!out_path.empty()) {
      out.open(out_path, std::ios::app);
      ts::require(out.good(), "bench", "cannot append to '" + out_path + "'");
    }
    std::printf("%-26s %-14s %-5s %6s %10s %10s %8s %9s %7s %10s\n", "shape", "kernel", "dtype", "sparse", "median_us",
                "cublas_us", "speedup", "bound_us", "%bound", "rel_err");
    bool all_ok = true;
    std::uint64_t seed = 1;
    for (const auto& sh : read_shapes(shapes_path, split(suites), split(ids))) {
      const auto w_values = random_values(sh.k * sh.n, seed++);
      const auto a_values = random_values(sh.m * sh.k, seed++);
      for (ts::DType dt : dts) {
        const ts::HostMatrix a_host(sh.m, sh.k, dt, a_values);
        const auto a = ts::gpu::DeviceMatrix::upload(a_host);
        const ts::HostMatrix w_dense(sh.k, sh.n, dt, w_values);
        const Measured base = measure(ctx, ts::Weight(ts::DenseWeight{w_dense}), a, a_host);
        for (const auto& kern : chosen) {
          const std::vector<double> kern_sps =
              kern.sparsity_fixed ? std::vector<double>{kern.spec.pattern == ts::Pattern::sp24 ? 0.5 : 0.0} : sps;
          for (const double sp : kern_sps) {
            const bool is_base = kern.spec.pattern == ts::Pattern::dense;
            Measured r = base;
            double achieved = 0;
            if (!is_base) {
              ts::PatternMask pm{random_mask(kern.spec, sh.k, sh.n, 1.0 - sp, seed++), {}};
              const ts::Weight w = ts::make_weight(w_dense, pm, kern.spec);
              achieved = ts::sparsity(w);
              try {
                r = measure(ctx, w, a, a_host);
              } catch (const ts::Error& e) {  // e.g. no f32 path on the sparse tensor cores
                std::printf("%-26s %-14s %-5s skipped: %s\n", sh.id.c_str(), kern.name.c_str(),
                            std::string(ts::to_string(dt)).c_str(), e.what());
                continue;
              }
            }
            const auto cost = ts::perf::matmul_cost(kern.spec, sh.m, sh.k, sh.n, dt, achieved);
            const auto b = ts::perf::bound(cost, dt, ceilings);
            const bool ok = !std::isnan(r.err) && r.err <= (dt == ts::DType::f32 ? 1e-5 : dt == ts::DType::f16 ? 2e-3 : 1e-2);
            all_ok = all_ok && ok;
            nlohmann::json params = kern.spec.params();
            params["kernel"] = kern.name;
            const nlohmann::json row = {{"op", "matmul"},
                                        {"pattern", kern.name},
                                        {"params", params},
                                        {"dtype", ts::to_string(dt)},
                                        {"m", sh.m},
                                        {"k", sh.k},
                                        {"n", sh.n},
                                        {"sparsity", achieved},
                                        {"device", info.name},
                                        {"commit", commit},
                                        {"date", now_iso()},
                                        {"median_us", r.us},
                                        {"baseline", "cublas"},
                                        {"baseline_us", base.us},
                                        {"speedup", base.us / r.us},
                                        {"tflops", cost.flops / (r.us * 1e6)},
                                        {"gbps", cost.bytes.total() / (r.us * 1e3)},
                                        {"bound_us", b.us()},
                                        {"pct_of_bound", 100.0 * b.us() / r.us},
                                        {"max_rel_err", std::isnan(r.err) ? nlohmann::json(nullptr) : nlohmann::json(r.err)}};
            if (out.is_open()) out << row.dump() << '\n' << std::flush;
            std::printf("%-26s %-14s %-5s %6.3f %10.2f %10.2f %8.3f %9.2f %6.1f%% %10.2e%s\n", sh.id.c_str(),
                        kern.name.c_str(), std::string(ts::to_string(dt)).c_str(), achieved, r.us, base.us,
                        base.us / r.us, b.us(), 100.0 * b.us() / r.us, r.err, ok ? "" : "  FAILED CHECK");
            std::fflush(stdout);
          }
        }
      }
    }
    return all_ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
}

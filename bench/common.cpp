#include "bench/common.hpp"

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <random>
#include <thread>

#include "bench/bench_args.hpp"
#include "tilesparse/core/error.hpp"
#include "tilesparse/core/tensor.hpp"

namespace tilesparse::bench {

std::vector<Shape> read_shapes(const std::string& path, const std::vector<std::string>& suites,
                               const std::vector<std::string>& ids) {
  std::ifstream in(path);
  require(in.good(), "bench", "cannot open shapes file '" + path + "'");
  std::vector<Shape> shapes;
  std::string line;
  std::getline(in, line);  // header: id,suite,m,k,n,note
  for (int row = 2; std::getline(in, line); ++row) {
    const auto f = split(line);
    require(f.size() >= 5, "bench", path + ":" + std::to_string(row) + ": expected id,suite,m,k,n,note");
    Shape s{f[0], f[1], std::stoll(f[2]), std::stoll(f[3]), std::stoll(f[4])};
    if (listed(suites, s.suite) && listed(ids, s.id)) shapes.push_back(s);
  }
  return shapes;
}

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

std::string now_iso() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

double tolerance(DType t) { return t == DType::f32 ? 1e-5 : t == DType::f16 ? 2e-3 : 1e-2; }

std::vector<std::int64_t> sample_rows(std::int64_t m) {
  std::vector<std::int64_t> rows;
  if (m <= 16) {
    for (std::int64_t i = 0; i < m; ++i) rows.push_back(i);
  } else {
    for (int i = 0; i < 8; ++i) rows.push_back(i * (m - 1) / 7);
  }
  return rows;
}

HostMatrix gather_rows(const HostMatrix& a, const std::vector<std::int64_t>& rows) {
  const std::int64_t k = a.cols();
  std::vector<float> v;
  v.reserve(rows.size() * static_cast<std::size_t>(k));
  for (const std::int64_t r : rows) v.insert(v.end(), a.values().begin() + r * k, a.values().begin() + (r + 1) * k);
  return HostMatrix(static_cast<std::int64_t>(rows.size()), k, a.dtype(), std::move(v));
}

Reference reference(const HostMatrix& a, const Weight& w, const Epilogue& epilogue) {
  Reference ref;
  ref.rows = sample_rows(a.rows());
  MatmulOptions opt;
  opt.epilogue = epilogue;
  matmul(gather_rows(a, ref.rows), w, ref.want, opt);  // one call: the reference spreads rows over cores
  return ref;
}

namespace {

void check_copy(cudaError_t s) {
  require(s == cudaSuccess, "bench", std::string("copy of an output row failed: ") + cudaGetErrorString(s));
}

// Row r of C as a 1 x width matrix, from C (row_major) or from column r of Cᵀ.
HostMatrix output_row(const gpu::DeviceMatrix& c, gpu::Layout layout, std::int64_t r) {
  const std::size_t es = size_of(c.dtype());
  const bool transposed = layout == gpu::Layout::transposed;
  const std::int64_t width = transposed ? c.rows() : c.cols();
  Tensor t{elem_type_of(c.dtype()), {1, width}, std::vector<std::byte>(static_cast<std::size_t>(width) * es)};
  const auto* base = static_cast<const std::byte*>(c.data());
  if (transposed) {
    check_copy(cudaMemcpy2D(t.bytes.data(), es, base + r * es, static_cast<std::size_t>(c.cols()) * es, es,
                            static_cast<std::size_t>(width), cudaMemcpyDeviceToHost));
  } else {
    check_copy(cudaMemcpy(t.bytes.data(), base + r * width * es, t.bytes.size(), cudaMemcpyDeviceToHost));
  }
  return to_matrix(t, "output row");
}

}  // namespace

double check_output(const gpu::DeviceMatrix& c, gpu::Layout layout, const Reference& ref,
                    const std::vector<std::int32_t>* col_map) {
  const std::int64_t n = ref.want.cols();
  double worst = 0;
  for (std::size_t i = 0; i < ref.rows.size(); ++i) {
    const HostMatrix got = output_row(c, layout, ref.rows[i]);
    std::vector<float> want(ref.want.values().begin() + static_cast<std::int64_t>(i) * n,
                            ref.want.values().begin() + static_cast<std::int64_t>(i + 1) * n);
    if (col_map) {
      std::vector<float> kept;
      kept.reserve(col_map->size());
      for (const std::int32_t j : *col_map) kept.push_back(want[static_cast<std::size_t>(j)]);
      want = std::move(kept);
    }
    require(static_cast<std::int64_t>(want.size()) == got.cols(), "bench",
            "output width " + std::to_string(got.cols()) + " differs from the reference's " + std::to_string(want.size()));
    const double e = relative_error(got, HostMatrix(1, got.cols(), got.dtype(), std::move(want)));
    if (std::isnan(e)) return e;
    worst = std::max(worst, e);
  }
  return worst;
}

gpu::DeviceMatrix upload_activation(const HostMatrix& a, gpu::Layout layout) {
  return gpu::DeviceMatrix::upload(layout == gpu::Layout::transposed ? a.transposed() : a);
}

gpu::DeviceMatrix output_for(std::int64_t m, std::int64_t n, DType dtype, gpu::Layout layout) {
  return layout == gpu::Layout::transposed ? gpu::DeviceMatrix(n, m, dtype) : gpu::DeviceMatrix(m, n, dtype);
}

Measured measure(Context& ctx, const gpu::DeviceWeight& w, const gpu::DeviceMatrix& a, gpu::DeviceMatrix& c,
                 const gpu::DeviceOptions& options, const Reference& ref, const std::vector<std::int32_t>* col_map) {
  Measured r;
  r.impl = gpu::kernel_name(w, options.layout, options.kernel);
  c.poison(*ctx.stream);
  gpu::matmul(a, w, c, options, *ctx.stream);
  ctx.stream->synchronize();
  r.err = check_output(c, options.layout, ref, col_map);
  r.us = ctx.timer->median_us([&] { gpu::matmul(a, w, c, options, *ctx.stream); }, ctx.warmup, ctx.runs);
  return r;
}

nlohmann::json row_common(const Context& ctx, const std::string& op, const std::string& pattern, DType dtype,
                          std::int64_t m, std::int64_t k, std::int64_t n, double sparsity) {
  return {{"op", op},         {"pattern", pattern},       {"dtype", to_string(dtype)}, {"m", m},
          {"k", k},           {"n", n},                   {"sparsity", sparsity},      {"device", ctx.device},
          {"commit", ctx.commit}, {"date", now_iso()}};
}

void row_timing(nlohmann::json& row, double us, double baseline_us, double flops, double bytes, double bound_us,
                double err) {
  row["median_us"] = us;
  row["baseline"] = "cublas";
  row["baseline_us"] = baseline_us;
  row["speedup"] = baseline_us / us;
  row["tflops"] = flops / (us * 1e6);
  row["gbps"] = bytes / (us * 1e3);
  row["bound_us"] = bound_us;
  row["pct_of_bound"] = 100.0 * bound_us / us;
  row["max_rel_err"] = std::isnan(err) ? nlohmann::json(nullptr) : nlohmann::json(err);
}

void write_row(Context& ctx, const nlohmann::json& row) {
  if (ctx.out && ctx.out->is_open()) *ctx.out << row.dump() << '\n' << std::flush;
}

}  // namespace tilesparse::bench

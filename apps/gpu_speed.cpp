#include "apps/gpu_speed.hpp"

#include <chrono>
#include <functional>
#include <iomanip>
#include <ostream>
#include <sstream>

#include "apps/table.hpp"
#include "tilesparse/core/error.hpp"
#if TILESPARSE_HAS_CUDA
#include "tilesparse/gpu.hpp"
#endif

namespace tilesparse::cli {

#if TILESPARSE_HAS_CUDA
namespace {

// The layer's weight with its values rounded to f16 and the same kept positions.
Weight as_f16(const Weight& w) {
  const HostMatrix dense = to_dense(w).as(DType::f16);
  PatternMask pm{Mask(dense.rows(), dense.cols(), false), {}};
  for (std::int64_t r = 0; r < dense.rows(); ++r)
    for (std::int64_t c = 0; c < dense.cols(); ++c) pm.mask.set(r, c, dense.values()[r * dense.cols() + c] != 0.0f);
  return make_weight(dense, pm, spec_of(w));
}

Weight dense_f16(const Weight& w) {
  const HostMatrix dense = to_dense(w).as(DType::f16);
  return make_weight(dense, PatternMask{Mask(dense.rows(), dense.cols(), true), {}}, PatternSpec{});
}

// Mean microseconds of `calls` launches after 3 warm-ups, host clock around a synchronize.
double time_us(const std::function<void()>& launch, const gpu::Stream& stream, int calls) {
  for (int i = 0; i < 3; ++i) launch();
  stream.synchronize();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < calls; ++i) launch();
  stream.synchronize();
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / calls;
}

}  // namespace
#endif

void print_gpu_speed(const std::vector<std::pair<std::string, Weight>>& layers, std::int64_t m, std::ostream& out) {
#if !TILESPARSE_HAS_CUDA
  (void)layers;
  (void)m;
  out << "GPU speed of the pruned layers: not measured (this build has no CUDA backend)\n";
#else
  const gpu::DeviceInfo info = gpu::device_info();
  if (!info.present) {
    out << "GPU speed of the pruned layers: not measured (no GPU: " << info.reason << ")\n";
    return;
  }
  if (!layers.empty() && !has_kernel(pattern_of(layers.front().second), Backend::cuda, DType::f16)) {
    out << "GPU speed of the pruned layers: not measured (no fp16 CUDA kernel for pattern "
        << to_string(pattern_of(layers.front().second)) << ")\n";
    return;
  }
  constexpr int kCalls = 50;
  Table t({"layer", "layout", "kernel", "pruned us", "cuBLAS us", "speedup"});
  const gpu::Stream stream;
  for (const auto& [name, w] : layers) {
    const gpu::DeviceWeight pruned = gpu::DeviceWeight::upload(as_f16(w));
    const gpu::DeviceWeight dense = gpu::DeviceWeight::upload(dense_f16(w));
    for (const gpu::Layout layout : {gpu::Layout::row_major, gpu::Layout::transposed}) {
      const bool tr = layout == gpu::Layout::transposed;
      std::string kernel;
      try {
        kernel = gpu::kernel_name(pruned, layout);
      } catch (const Error&) {
        continue;  // this pattern's kernel takes row-major activations only
      }
      const gpu::DeviceMatrix a =
          gpu::DeviceMatrix::upload(HostMatrix::random(tr ? pruned.k() : m, tr ? m : pruned.k(), DType::f16, 7));
      gpu::DeviceMatrix c(tr ? pruned.n() : m, tr ? m : pruned.n(), DType::f16);
      gpu::DeviceOptions options;
      options.layout = layout;
      const double us_pruned = time_us([&] { gpu::matmul(a, pruned, c, options, stream); }, stream, kCalls);
      const double us_dense = time_us([&] { gpu::matmul(a, dense, c, options, stream); }, stream, kCalls);
      std::ostringstream p, d, s;
      p << std::fixed << std::setprecision(1) << us_pruned;
      d << std::fixed << std::setprecision(1) << us_dense;
      s << std::fixed << std::setprecision(2) << us_dense / us_pruned << "x";
      t.add({name, std::string(gpu::to_string(layout)), kernel, p.str(), d.str(), s.str()});
    }
  }
  out << "GPU speed of the pruned layers on " << info.name << " (fp16, batch of " << m << " rows, mean of " << kCalls
      << " calls, host clock; tilesparse-bench gives the L2-flushed medians):\n";
  t.print(out);
#endif
}

}  // namespace tilesparse::cli

#include "tilesparse/ops.hpp"

#include <cmath>
#include <functional>
#include <string>

#include "backends/ref/matmul_ref.hpp"
#include "tilesparse/core/error.hpp"
#if TILESPARSE_HAS_CUDA
#include "backends/cuda/kernels.hpp"
#include "tilesparse/gpu.hpp"
#endif

namespace tilesparse {

std::string_view to_string(Activation a) {
  switch (a) {
    case Activation::none: return "none";
    case Activation::relu: return "relu";
    case Activation::gelu: return "gelu";
  }
  return "?";
}

Activation parse_activation(std::string_view name) {
  if (name == "none") return Activation::none;
  if (name == "relu") return Activation::relu;
  if (name == "gelu") return Activation::gelu;
  throw Error("parse_activation", "unknown activation '" + std::string(name) + "' (expected none, relu or gelu)");
}

std::string_view to_string(Backend b) { return b == Backend::ref ? "ref" : "cuda"; }

namespace cuda {
struct Args;
}

namespace {

using RefKernel = std::function<ref::Accumulator(const HostMatrix&, const Weight&)>;
using CudaKernel = void (*)(const cuda::Args&);

// Exactly one of ref/cuda is set, matching `backend`.
struct KernelEntry {
  Pattern pattern;
  Backend backend;
  bool all_dtypes;  // false: only `dtype`
  DType dtype;
  std::string name;
  RefKernel ref;
  CudaKernel cuda = nullptr;
  bool transposed_layout = false;  // also takes Aᵀ/Cᵀ (gpu::Layout::transposed)
  bool fuses_epilogue = false;     // applies bias/activation itself
};

template <class W, ref::Accumulator (*F)(const HostMatrix&, const W&)>
ref::Accumulator call(const HostMatrix& a, const Weight& w) {
  return F(a, std::get<W>(w));
}

// The one place that maps (pattern, backend, dtype) to a kernel.
const std::vector<KernelEntry>& dispatch_table() {
  static const std::vector<KernelEntry> table = [] {
    std::vector<KernelEntry> t = {
        {Pattern::dense, Backend::ref, true, DType::f32, "ref.dense", call<DenseWeight, ref::matmul_dense>},
        {Pattern::ew, Backend::ref, true, DType::f32, "ref.ew", call<EwWeight, ref::matmul_ew>},
        {Pattern::bw, Backend::ref, true, DType::f32, "ref.bw", call<BwWeight, ref::matmul_bw>},
        {Pattern::nm, Backend::ref, true, DType::f32, "ref.nm", call<NmWeight, ref::matmul_nm>},
        {Pattern::sp24, Backend::ref, true, DType::f32, "ref.24", call<Sp24Weight, ref::matmul_sp24>},
        {Pattern::tw, Backend::ref, true, DType::f32, "ref.tw", call<TwWeight, ref::matmul_tw>},
        {Pattern::tew, Backend::ref, true, DType::f32, "ref.tew", call<TewWeight, ref::matmul_tew>},
    };
#if TILESPARSE_HAS_CUDA
    enum Features { plain = 0, transposed = 1, fused = 2 };
    const auto add_cuda = [&t](Pattern p, std::initializer_list<DType> dtypes, const char* name, CudaKernel k,
                               int features = plain) {
      for (DType d : dtypes)
        t.push_back({p, Backend::cuda, false, d, name, nullptr, k, (features & transposed) != 0, (features & fused) != 0});
    };
    const auto all = {DType::f32, DType::f16, DType::bf16};
    const auto half = {DType::f16, DType::bf16};
    add_cuda(Pattern::dense, all, "cuda.cublas", cuda::cublas_dense, transposed);
    add_cuda(Pattern::ew, all, "cuda.cusparse.csr", cuda::cusparse_csr, transposed);
    add_cuda(Pattern::bw, all, "cuda.cusparse.bsr", cuda::cusparse_bsr);
#if TILESPARSE_HAS_CUSPARSELT
    // The sparse tensor cores take 16-bit operands only.
    add_cuda(Pattern::sp24, half, "cuda.cusparselt", cuda::cusparselt_24);
#endif
    add_cuda(Pattern::tw, half, "cuda.tw.wgmma", cuda::tw_tensor_cores, transposed | fused);
    add_cuda(Pattern::tw, {DType::f32}, "cuda.tw.simt", cuda::tw_cuda_cores, transposed | fused);
    add_cuda(Pattern::tew, half, "cuda.tew.wgmma", cuda::tew_tensor_cores, transposed | fused);
    add_cuda(Pattern::tew, {DType::f32}, "cuda.tew.simt", cuda::tew_cuda_cores, transposed | fused);
#endif
    return t;
  }();
  return table;
}

const KernelEntry& find_kernel(Pattern p, Backend b, DType dt, const std::string& op, const std::string& shapes,
                               bool transposed = false) {
  std::string others;
  for (const auto& e : dispatch_table()) {
    if (e.pattern != p || e.backend != b) continue;
    if (e.all_dtypes || e.dtype == dt) {
      require(!transposed || e.transposed_layout, op,
              "kernel " + e.name + " takes row-major activations only, not the transposed layout", shapes);
      return e;
    }
    others += (others.empty() ? "" : ", ") + std::string(to_string(e.dtype));
  }
  std::string reason = "no kernel for pattern " + std::string(to_string(p)) + " on backend " +
                       std::string(to_string(b)) + " with dtype " + std::string(to_string(dt));
  if (!others.empty()) reason += " (it has: " + others + ")";
#if !TILESPARSE_HAS_CUDA
  if (b == Backend::cuda) reason += " (the library was built without CUDA)";
#endif
  throw Error(op, reason, shapes);
}

void check_operands(const std::string& op, std::int64_t a_cols, std::int64_t k, std::int64_t n,
                    const Epilogue& ep, const std::string& shapes) {
  require(a_cols == k, op, "A has " + std::to_string(a_cols) + " columns but W has K = " + std::to_string(k), shapes);
  require(ep.bias.empty() || static_cast<std::int64_t>(ep.bias.size()) == n, op,
          "bias has " + std::to_string(ep.bias.size()) + " values, expected N = " + std::to_string(n), shapes);
}

std::string op_name(Pattern p) { return "matmul[" + std::string(to_string(p)) + "]"; }

double gelu(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }

}  // namespace

bool has_kernel(Pattern pattern, Backend backend, DType dtype) {
  for (const auto& e : dispatch_table())
    if (e.pattern == pattern && e.backend == backend && (e.all_dtypes || e.dtype == dtype)) return true;
  return false;
}

std::vector<std::string> available_kernels() {
  std::vector<std::string> names;
  for (const auto& e : dispatch_table()) {
    names.push_back(std::string(to_string(e.pattern)) + "/" + std::string(to_string(e.backend)) + "/" +
                    (e.all_dtypes ? std::string("any") : std::string(to_string(e.dtype))) + ": " + e.name);
  }
  return names;
}

#if TILESPARSE_HAS_CUDA
namespace gpu {

std::string_view to_string(Layout l) { return l == Layout::row_major ? "row_major" : "transposed"; }

std::string kernel_name(const DeviceWeight& w, Layout layout) {
  const std::string op = op_name(w.pattern());
  return find_kernel(w.pattern(), Backend::cuda, w.dtype(), op, "", layout == Layout::transposed).name;
}

void matmul(const DeviceMatrix& a, const DeviceWeight& w, DeviceMatrix& c, const DeviceOptions& options,
            const Stream& stream) {
  const Pattern p = w.pattern();
  const std::string op = op_name(p);
  const bool transposed = options.layout == Layout::transposed;
  const std::string shapes = std::string(transposed ? "Aᵀ " : "A ") + shape_str({a.rows(), a.cols()}) + ", W " +
                             shape_str({w.k(), w.n()}) + (transposed ? ", Cᵀ " : ", C ") +
                             shape_str({c.rows(), c.cols()});
  const std::int64_t m = transposed ? a.cols() : a.rows(), a_k = transposed ? a.rows() : a.cols();
  require(a_k == w.k(), op,
          std::string(transposed ? "Aᵀ has " : "A has ") + std::to_string(a_k) + (transposed ? " rows" : " columns") +
              " but W has K = " + std::to_string(w.k()),
          shapes);
  require(!options.compact_output || p == Pattern::tw, op,
          "compact output is a TW option (a " + std::string(tilesparse::to_string(p)) + " weight writes every column)",
          shapes);
  const std::int64_t n_out = options.compact_output ? w.kept_columns() : w.n();
  const std::string n_name = options.compact_output ? "kept_columns (" + std::to_string(n_out) + ")" : "N";
  require(transposed ? c.rows() == n_out && c.cols() == m : c.rows() == m && c.cols() == n_out, op,
          transposed ? "Cᵀ must be preallocated as " + n_name + " x M" : "C must be preallocated as M x " + n_name,
          shapes);
  require(options.bias == nullptr || options.bias->bytes() == static_cast<std::size_t>(w.n()) * sizeof(float), op,
          "bias must hold N = " + std::to_string(w.n()) + " floats", shapes);
  require(a.dtype() == w.dtype() && c.dtype() == w.dtype(), op,
          "A, W and C must share one dtype (A " + std::string(tilesparse::to_string(a.dtype())) + ", W " +
              std::string(tilesparse::to_string(w.dtype())) + ", C " + std::string(tilesparse::to_string(c.dtype())) +
              ")",
          shapes);
  const KernelEntry& e = find_kernel(p, Backend::cuda, w.dtype(), op, shapes, transposed);
  const float* bias = options.bias ? static_cast<const float*>(options.bias->data()) : nullptr;
  const bool fuse = e.fuses_epilogue && options.fuse_epilogue;
  require(!options.compact_output || fuse, op, "compact output needs the fused epilogue", shapes);
  cuda::Args args{a, w, c, stream, options.layout};
  args.compact_output = options.compact_output;
  if (fuse) {
    args.bias = bias;
    args.activation = options.activation;
  }
  e.cuda(args);
  if (!fuse) cuda::apply_epilogue(c, bias, options.activation, options.layout, stream);
}

void matmul(const DeviceMatrix& a, const DeviceWeight& w, DeviceMatrix& c, const MatmulOptions& options,
            const Stream& stream) {
  const std::string op = op_name(w.pattern());
  require(options.backend == Backend::cuda, op, "device operands need backend cuda");
  require(options.epilogue.bias.empty() || static_cast<std::int64_t>(options.epilogue.bias.size()) == w.n(), op,
          "bias has " + std::to_string(options.epilogue.bias.size()) + " values, expected N = " + std::to_string(w.n()));
  DeviceBuffer bias(options.epilogue.bias.size() * sizeof(float));
  if (bias.bytes() > 0) bias.upload(options.epilogue.bias.data(), bias.bytes());
  DeviceOptions device_options;
  device_options.bias = bias.bytes() > 0 ? &bias : nullptr;
  device_options.activation = options.epilogue.activation;
  matmul(a, w, c, device_options, stream);
  // The bias buffer is freed on return: finish the kernels that read it first.
  stream.synchronize();
}

}  // namespace gpu
#endif

void matmul(const HostMatrix& a, const Weight& w, HostMatrix& c, const MatmulOptions& options) {
  const Pattern p = pattern_of(w);
  const std::int64_t m = a.rows(), k = k_of(w), n = n_of(w);
  const std::string op = op_name(p);
  const std::string shapes = "A " + shape_str({a.rows(), a.cols()}) + ", W " + shape_str({k, n});
  check_operands(op, a.cols(), k, n, options.epilogue, shapes);
  const DType dt = a.dtype();
  const KernelEntry& entry = find_kernel(p, options.backend, dt, op, shapes);
#if TILESPARSE_HAS_CUDA
  if (entry.cuda) {
    // Convenience path (tests, tools): copies in and out around the device matmul; the
    // output is poisoned first so an element the kernel misses reads NaN.
    require(dtype_of(w) == dt, op,
            "the CUDA kernels take A in W's dtype (A " + std::string(to_string(dt)) + ", W " +
                std::string(to_string(dtype_of(w))) + ")",
            shapes);
    const gpu::Stream stream;
    const gpu::DeviceMatrix da = gpu::DeviceMatrix::upload(a);
    const gpu::DeviceWeight dw = gpu::DeviceWeight::upload(w);
    gpu::DeviceMatrix dc(m, n, dt);
    dc.poison(stream);
    gpu::matmul(da, dw, dc, options, stream);
    stream.synchronize();
    c = dc.download();
    return;
  }
#endif
  ref::Accumulator acc = entry.ref(a, w);
  c = HostMatrix(m, n, dt);
  auto out = c.mutable_values();
  const auto& ep = options.epilogue;
  for (std::int64_t i = 0; i < m; ++i) {
    for (std::int64_t j = 0; j < n; ++j) {
      double x = acc[i * n + j];
      if (!ep.bias.empty()) x += ep.bias[j];
      if (ep.activation == Activation::relu) x = x > 0 ? x : 0.0;
      if (ep.activation == Activation::gelu) x = gelu(x);
      out[i * n + j] = round_to(dt, static_cast<float>(x));
    }
  }
}

}  // namespace tilesparse

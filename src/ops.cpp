#include "tilesparse/ops.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <string_view>

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
  // The device's compute capability (major * 10 + minor) must be at least min_cc and,
  // when only_cc_major is set, of exactly that major version: sm_90a code (wgmma) loads on
  // 9.x only, while mma.sync code built for sm_80 runs on every later device.
  int min_cc = 0;
  int only_cc_major = 0;
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
                               int features = plain, int min_cc = 0, int only_cc_major = 0) {
      for (DType d : dtypes)
        t.push_back({p, Backend::cuda, false, d, name, nullptr, k, (features & transposed) != 0, (features & fused) != 0,
                     min_cc, only_cc_major});
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
    // TW f16/bf16: Hopper's wgmma kernel where it runs (9.x), else warp-level mma.sync (8.0+).
    add_cuda(Pattern::tw, half, "cuda.tw.wgmma", cuda::tw_wgmma, transposed | fused, 90, 9);
    add_cuda(Pattern::tw, half, "cuda.tw.mma", cuda::tw_mma, transposed | fused, 80);
    add_cuda(Pattern::tw, {DType::f32}, "cuda.tw.simt", cuda::tw_simt, transposed | fused);
    add_cuda(Pattern::tew, half, "cuda.tew.wgmma", cuda::tew_wgmma, transposed | fused, 90, 9);
    add_cuda(Pattern::tew, half, "cuda.tew.mma", cuda::tew_mma, transposed | fused, 80);
    add_cuda(Pattern::tew, {DType::f32}, "cuda.tew.simt", cuda::tew_simt, transposed | fused);
#endif
    return t;
  }();
  return table;
}

// The table's entry names, each once, comma-separated.
std::string kernel_names() {
  std::vector<std::string> names;
  for (const auto& e : dispatch_table())
    if (std::find(names.begin(), names.end(), e.name) == names.end()) names.push_back(e.name);
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

std::string cc_str(int cc) { return std::to_string(cc / 10) + "." + std::to_string(cc % 10); }

// What an entry needs of the device, e.g. "compute capability 9.x", or empty.
std::string cc_requirement(const KernelEntry& e) {
  if (e.only_cc_major > 0) return "compute capability " + std::to_string(e.only_cc_major) + ".x";
  if (e.min_cc > 0) return "compute capability " + cc_str(e.min_cc) + " or later";
  return "";
}

// Why the entry cannot run on a device of compute capability cc (0: no usable device),
// or empty when it can.
std::string cc_mismatch(const KernelEntry& e, int cc) {
  if (cc >= e.min_cc && (e.only_cc_major == 0 || cc / 10 == e.only_cc_major)) return "";
  return "kernel " + e.name + " needs " + cc_requirement(e) + ", " +
         (cc == 0 ? std::string("and no usable CUDA device was found") : "the device has " + cc_str(cc));
}

// The first entry for (p, b, dt) that takes the layout and runs on a device of compute
// capability cc (0: none); only the entry named `forced` when that is not empty. Throws
// Error with every reason when none fits.
const KernelEntry& find_kernel(Pattern p, Backend b, DType dt, const std::string& op, const std::string& shapes,
                               bool transposed = false, int cc = 0, std::string_view forced = {}) {
  std::string others, unfit;
  for (const auto& e : dispatch_table()) {
    if (e.pattern != p || e.backend != b || (!forced.empty() && e.name != forced)) continue;
    if (e.all_dtypes || e.dtype == dt) {
      const std::string why = transposed && !e.transposed_layout
                                  ? "kernel " + e.name + " takes row-major activations only, not the transposed layout"
                                  : cc_mismatch(e, cc);
      if (why.empty()) return e;
      unfit += (unfit.empty() ? "" : "; ") + why;
      continue;
    }
    others += (others.empty() ? "" : ", ") + std::string(to_string(e.dtype));
  }
  if (!unfit.empty()) throw Error(op, unfit, shapes);
  const std::string wanted = "pattern " + std::string(to_string(p)) + " on backend " + std::string(to_string(b)) +
                             " with dtype " + std::string(to_string(dt));
  if (!forced.empty()) {
    // The named entry does not exist, or serves another pattern, backend or dtype.
    std::string serves;
    for (const auto& e : dispatch_table()) {
      if (e.name != forced) continue;
      serves += serves.empty() ? "pattern " + std::string(to_string(e.pattern)) + " on backend " +
                                     std::string(to_string(e.backend)) + " with dtype "
                               : ", ";
      serves += e.all_dtypes ? std::string("any") : std::string(to_string(e.dtype));
    }
    if (serves.empty()) throw Error(op, "unknown kernel '" + std::string(forced) + "' (the table has: " + kernel_names() + ")", shapes);
    throw Error(op, "kernel " + std::string(forced) + " runs " + serves + ", not " + wanted, shapes);
  }
  std::string reason = "no kernel for " + wanted;
  if (!others.empty()) reason += " (it has: " + others + ")";
#if !TILESPARSE_HAS_CUDA
  if (b == Backend::cuda) reason += " (the library was built without CUDA)";
#endif
  throw Error(op, reason, shapes);
}

// The compute capability find_kernel checks the entries of backend b against: the
// current device's (major * 10 + minor, 0 without a usable device) for CUDA.
int capability_of(Backend b) {
#if TILESPARSE_HAS_CUDA
  if (b == Backend::cuda) return gpu::compute_capability();
#endif
  (void)b;
  return 0;
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
    const std::string needs = cc_requirement(e);
    names.push_back(std::string(to_string(e.pattern)) + "/" + std::string(to_string(e.backend)) + "/" +
                    (e.all_dtypes ? std::string("any") : std::string(to_string(e.dtype))) + ": " + e.name +
                    (needs.empty() ? "" : " (" + needs + ")"));
  }
  return names;
}

std::string select_kernel(Pattern pattern, Backend backend, DType dtype, bool transposed_layout, int compute_capability,
                          const std::string& forced) {
  return find_kernel(pattern, backend, dtype, op_name(pattern), "", transposed_layout, compute_capability, forced).name;
}

std::optional<Pattern> kernel_pattern(const std::string& name) {
  for (const auto& e : dispatch_table())
    if (e.name == name) return e.pattern;
  return std::nullopt;
}

#if TILESPARSE_HAS_CUDA
namespace gpu {

std::string_view to_string(Layout l) { return l == Layout::row_major ? "row_major" : "transposed"; }

std::string kernel_name(const DeviceWeight& w, Layout layout, const std::string& kernel) {
  return select_kernel(w.pattern(), Backend::cuda, w.dtype(), layout == Layout::transposed,
                       capability_of(Backend::cuda), kernel);
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
  const KernelEntry& e =
      find_kernel(p, Backend::cuda, w.dtype(), op, shapes, transposed, capability_of(Backend::cuda), options.kernel);
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
  const KernelEntry& entry = find_kernel(p, options.backend, dt, op, shapes, false, capability_of(options.backend));
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

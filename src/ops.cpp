#include "tilesparse/ops.hpp"

#include <cmath>
#include <functional>
#include <string>

#include "backends/ref/matmul_ref.hpp"
#include "tilesparse/core/error.hpp"

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

namespace {

using RefKernel = std::function<ref::Accumulator(const HostMatrix&, const Weight&)>;

struct KernelEntry {
  Pattern pattern;
  Backend backend;
  bool all_dtypes;  // false: only `dtype`
  DType dtype;
  std::string name;
  RefKernel run;
};

template <class W, ref::Accumulator (*F)(const HostMatrix&, const W&)>
ref::Accumulator call(const HostMatrix& a, const Weight& w) {
  return F(a, std::get<W>(w));
}

// The one place that maps (pattern, backend, dtype) to a kernel.
const std::vector<KernelEntry>& dispatch_table() {
  static const std::vector<KernelEntry> table = {
      {Pattern::dense, Backend::ref, true, DType::f32, "ref.dense", call<DenseWeight, ref::matmul_dense>},
      {Pattern::ew, Backend::ref, true, DType::f32, "ref.ew", call<EwWeight, ref::matmul_ew>},
      {Pattern::bw, Backend::ref, true, DType::f32, "ref.bw", call<BwWeight, ref::matmul_bw>},
      {Pattern::nm, Backend::ref, true, DType::f32, "ref.nm", call<NmWeight, ref::matmul_nm>},
      {Pattern::sp24, Backend::ref, true, DType::f32, "ref.24", call<Sp24Weight, ref::matmul_sp24>},
      {Pattern::tw, Backend::ref, true, DType::f32, "ref.tw", call<TwWeight, ref::matmul_tw>},
      {Pattern::tew, Backend::ref, true, DType::f32, "ref.tew", call<TewWeight, ref::matmul_tew>},
  };
  return table;
}

double gelu(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }

}  // namespace

std::vector<std::string> available_kernels() {
  std::vector<std::string> names;
  for (const auto& e : dispatch_table()) {
    names.push_back(std::string(to_string(e.pattern)) + "/" + std::string(to_string(e.backend)) + "/" +
                    (e.all_dtypes ? std::string("any") : std::string(to_string(e.dtype))) + ": " + e.name);
  }
  return names;
}

void matmul(const HostMatrix& a, const Weight& w, HostMatrix& c, const MatmulOptions& options) {
  const Pattern p = pattern_of(w);
  const std::int64_t m = a.rows(), k = k_of(w), n = n_of(w);
  const std::string op = "matmul[" + std::string(to_string(p)) + "]";
  const std::string shapes = "A " + shape_str({a.rows(), a.cols()}) + ", W " + shape_str({k, n});
  require(a.cols() == k, op, "A has " + std::to_string(a.cols()) + " columns but W has K = " + std::to_string(k), shapes);
  require(options.epilogue.bias.empty() || static_cast<std::int64_t>(options.epilogue.bias.size()) == n, op,
          "bias has " + std::to_string(options.epilogue.bias.size()) + " values, expected N = " + std::to_string(n), shapes);
  const DType dt = a.dtype();
  const KernelEntry* entry = nullptr;
  for (const auto& e : dispatch_table()) {
    if (e.pattern == p && e.backend == options.backend && (e.all_dtypes || e.dtype == dt)) {
      entry = &e;
      break;
    }
  }
  require(entry != nullptr, op,
          "no kernel for pattern " + std::string(to_string(p)) + " on backend " +
              std::string(to_string(options.backend)) + " with dtype " + std::string(to_string(dt)),
          shapes);
  ref::Accumulator acc = entry->run(a, w);
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

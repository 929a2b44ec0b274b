// TW and TEW matmul entries of the dispatch table: the device form of a TW weight (work
// items, padded kept rows, column list, values packed for the kernel: tw_plan.cpp) is
// built once per weight, packing and dense-tile rule from its host copy, uploaded and
// cached in the DeviceWeight; each call then is one TW launch (plus, for fp32 TEW on the CUDA cores,
// one residual pass before it; the tensor-core kernels run a TEW weight merged).
#include <cstring>
#include <map>
#include <optional>
#include <tuple>
#include <utility>
#include <vector>

#include "backends/cuda/check.hpp"
#include "backends/cuda/device_weight.hpp"
#include "backends/cuda/kernels.hpp"
#include "backends/cuda/library.hpp"
#include "backends/cuda/tw_launch.hpp"
#include "backends/cuda/tw_launch_choice.cuh"
#include "backends/cuda/tw_plan.hpp"

namespace tilesparse::cuda {

namespace {

enum class TwKernel { wgmma, mma, simt };

struct TwPlan : TwPlanShape {
  gpu::DeviceBuffer items, rows, cols, values;
};

// Which plan of a weight: its packing, dense-tile rule, and whether it is the weight on
// its kept K rows alone (tw_on_kept_rows), for row-major calls whose pass copies only those.
using TwPlanKey = std::tuple<TwPacking, TwDenseTiles, bool>;

// The K rows a weight keeps, for row-major calls whose pass copies A (tw_kept_k_rows):
// on the device when copying only them pays (tw_copy_kept_rows_pays), else none.
struct KeptKRows {
  bool copy_only_them = false;
  std::vector<std::int32_t> host;
  gpu::DeviceBuffer rows;
};

// What a TW weight keeps on the device: the plans its calls have read (a weight run by
// both tensor-core kernels, e.g. when a benchmark forces one, holds both packings; one
// called with both layouts may hold both wgmma rules and its plan on the kept rows), and
// the scratch for Aᵀ of row-major calls, grown as needed. A TEW weight's plans come from
// TewWeight::merged() on the tensor cores and from its TW part on the CUDA cores; the
// two never meet in one state, as the weight's dtype picks one or the other (fp32: simt).
struct TwState : gpu::VendorState {
  std::map<TwPlanKey, TwPlan> plans;
  std::optional<bool> row_major_dense_pays;  // tw_row_major_dense_pays, once per weight
  std::optional<KeptKRows> kept_k_rows;      // once per weight
  gpu::DeviceBuffer a_transposed;
};

template <class T>
gpu::DeviceBuffer upload_vector(const std::vector<T>& v) {
  gpu::DeviceBuffer b(v.size() * sizeof(T));
  if (!v.empty()) b.upload(v.data(), b.bytes());
  return b;
}

// Values of the weight's dtype as stored on the device (fp32, or 16-bit patterns).
std::vector<std::byte> encode(const std::vector<float>& v, DType dtype) {
  std::vector<std::byte> out(v.size() * size_of(dtype));
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (dtype == DType::f32) {
      std::memcpy(out.data() + 4 * i, &v[i], 4);
    } else {
      const std::uint16_t bits = dtype == DType::f16 ? float_to_f16_bits(v[i]) : float_to_bf16_bits(v[i]);
      std::memcpy(out.data() + 2 * i, &bits, 2);
    }
  }
  return out;
}

TwPlan make_plan(const TwWeight& w, TwPacking packing, TwDenseTiles dense, const char* op) {
  const TwHostPlan host = make_tw_plan(w, packing, op, dense);
  TwPlan plan;
  static_cast<TwPlanShape&>(plan) = host;
  plan.items = upload_vector(host.items);
  plan.rows = upload_vector(host.rows);
  plan.cols = upload_vector(host.cols);
  plan.values = upload_vector(encode(host.values, w.dtype));
  return plan;
}

const TwWeight& tw_part(const Weight& w) {
  if (const auto* tew = std::get_if<TewWeight>(&w)) return tew->tw;
  return std::get<TwWeight>(w);
}

// The plan's arrays and scalars into t.
void use_plan(TwLaunch& t, const TwPlan& plan) {
  static_cast<TwPlanShape&>(t) = plan;
  t.items = static_cast<const TwItem*>(plan.items.data());
  t.rows = static_cast<const std::int32_t*>(plan.rows.data());
  t.cols = static_cast<const std::int32_t*>(plan.cols.data());
  t.values = plan.values.data();
}

void run(const Args& x, TwKernel kernel, bool tew) {
  const char* op = tew ? "matmul[tew]" : "matmul[tw]";
  auto& impl = x.w.impl();
  TwState& state = impl.vendor_state<TwState>([] { return std::make_unique<TwState>(); });
  // TEW on the tensor cores: the merged weight, one TW launch. It costs at most what the
  // TW kernel costs at 0%, where the CUDA-core residual pass cost 3-5x more at every
  // measured δ and sparsity (H200, bench/NOTES.md). fp32 TEW: the TW part plus the pass.
  const bool with_residual = tew && kernel == TwKernel::simt;
  // The weight the plans are built from: the TW part, or the merged TEW weight, merged at
  // most once per call and only when a plan or the kept rows are not cached yet.
  std::optional<TwWeight> merged;
  const auto plan_weight = [&]() -> const TwWeight& {
    if (!tew || with_residual) return tw_part(*impl.host);
    if (!merged) merged = std::get<TewWeight>(*impl.host).merged();
    return *merged;
  };
  const TwPacking packing = kernel == TwKernel::wgmma ? TwPacking::wgmma_sw128 : TwPacking::simt_rows;
  // Row-major A on the wgmma kernel: every kept tile dense where that pays, so that A is
  // read in place instead of copied to Aᵀ (tw_row_major_dense_pays). Not for TEW, whose
  // merged tiles are nearly dense and take the near-full rule.
  TwDenseTiles dense = TwDenseTiles::near_full;
  if (kernel == TwKernel::wgmma && !tew && !x.transposed()) {
    if (!state.row_major_dense_pays) state.row_major_dense_pays = tw_row_major_dense_pays(tw_part(*impl.host));
    if (*state.row_major_dense_pays) dense = TwDenseTiles::all;
  }
  const auto plan_for = [&](bool on_kept_rows) -> const TwPlan& {
    const TwPlanKey key{packing, dense, on_kept_rows};
    auto found = state.plans.find(key);
    if (found == state.plans.end()) {
      TwPlan plan = on_kept_rows ? make_plan(tw_on_kept_rows(plan_weight(), state.kept_k_rows->host), packing, dense, op)
                                 : make_plan(plan_weight(), packing, dense, op);
      found = state.plans.emplace(key, std::move(plan)).first;
    }
    return found->second;
  };
  const TwPlan& plan = plan_for(false);
  const std::int64_t m = x.m(), k = x.w.k(), n = x.w.n();
  if (m == 0 || n == 0) return;
  if (with_residual) {
    CsrResidualLaunch r;
    r.a = x.a.data();
    r.c = x.c.data();
    r.m = m;
    r.k = k;
    r.n = n;
    r.transposed = x.transposed();
    r.row_ptr = static_cast<const std::int64_t*>(impl.array("residual.row_ptr").buffer.data());
    r.k_idx = static_cast<const std::int32_t*>(impl.array("residual.k_idx").buffer.data());
    r.values = impl.array("residual.values").buffer.data();
    r.stream = native(x.stream);
    launch_csr_residual_f32(r);
  }
  TwLaunch t;
  use_plan(t, plan);
  t.a = x.a.data();
  t.c = x.c.data();
  t.m = m;
  t.k = k;
  t.n = n;
  t.transposed = x.transposed();
  t.bias = x.bias;
  t.activation = static_cast<int>(x.activation);
  t.accumulate = with_residual;
  t.compact = x.compact_output;
  t.n_out = x.compact_output ? x.w.kept_columns() : n;
  // The tensor-core kernels write a full row-major C in the items' windows where that
  // pays; the CUDA-core kernel has its own epilogue.
  t.row_major_windows = kernel != TwKernel::simt && !t.transposed && !t.compact && !t.accumulate &&
                        tw_row_major_windows_pay(m, k, plan, current_sm_count());
  t.stream = native(x.stream);
  if (kernel == TwKernel::simt) {
    launch_tw_simt_f32(t);
    return;
  }
  // Tensor cores, row-major A: its kept K columns are scattered along each row; one pass
  // copies them into whole rows of Aᵀ for the coalesced 16-byte gathers: all of A, or
  // only the columns some tile keeps, with the plan of the weight on those rows, where
  // that pays. The same pass fills C with activation(bias) where that pays, and the
  // kernel then writes only the tiles' columns. No pass when the wgmma kernel gathers
  // nothing (every kept tile a run of whole steps: 0% sparsity, the row-major plan of
  // tw_row_major_dense_pays, or no kept tile) and A allows TMA (K % 8 == 0, 16-byte
  // aligned): it reads A's runs as TMA boxes in place. A misaligned A under that plan is
  // still copied, and its dense tiles read the copy.
  const bool reads_a_in_place = kernel == TwKernel::wgmma && wgmma_reads_row_major_a_in_place(t);
  if (!x.transposed() && m % 8 == 0 && k > 0 && !reads_a_in_place) {
    if (!state.kept_k_rows) {
      KeptKRows kept;
      kept.host = tw_kept_k_rows(plan_weight());
      kept.copy_only_them = tw_copy_kept_rows_pays(k, static_cast<std::int64_t>(kept.host.size()));
      if (kept.copy_only_them) kept.rows = upload_vector(kept.host);
      state.kept_k_rows = std::move(kept);
    }
    RowMajorPass pass;
    pass.a = x.a.data();
    pass.m = m;
    pass.k = k;
    if (state.kept_k_rows->copy_only_them && dense == TwDenseTiles::near_full) {
      use_plan(t, plan_for(true));
      t.k = static_cast<std::int64_t>(state.kept_k_rows->host.size());
      pass.a_cols = static_cast<const std::int32_t*>(state.kept_k_rows->rows.data());
      pass.a_col_count = t.k;
    }
    const std::size_t bytes = static_cast<std::size_t>(m * t.k) * size_of(x.w.dtype());
    if (state.a_transposed.bytes() < bytes) state.a_transposed = gpu::DeviceBuffer(bytes);
    pass.a_transposed = state.a_transposed.data();
    t.a_transposed = pass.a_transposed;
    t.pruned_columns_filled = !t.compact && !t.row_major_windows && !t.accumulate && t.kept_items < t.item_count &&
                              tw_fill_row_major_c_pays(n, x.w.kept_columns());
    if (t.pruned_columns_filled) {
      pass.c = t.c;
      pass.n = n;
      pass.bias = t.bias;
      pass.activation = t.activation;
    }
    pass.stream = t.stream;
    launch_row_major_pass(pass, x.w.dtype());
    t.after_pass = kernel == TwKernel::wgmma;
  }
  if (kernel == TwKernel::wgmma) {
    launch_tw_wgmma(t, x.w.dtype());
  } else {
    launch_tw_mma(t, x.w.dtype());
  }
}

}  // namespace

void tw_wgmma(const Args& x) { run(x, TwKernel::wgmma, false); }
void tw_mma(const Args& x) { run(x, TwKernel::mma, false); }
void tw_simt(const Args& x) { run(x, TwKernel::simt, false); }
void tew_wgmma(const Args& x) { run(x, TwKernel::wgmma, true); }
void tew_mma(const Args& x) { run(x, TwKernel::mma, true); }
void tew_simt(const Args& x) { run(x, TwKernel::simt, true); }

}  // namespace tilesparse::cuda

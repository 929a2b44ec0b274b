// TW and TEW matmul entries of the dispatch table: the device form of a TW weight (work
// items, padded kept rows, column list, values packed for the kernel) is built once per
// weight and packing from its host copy and cached in the DeviceWeight; each call then is
// one TW launch (plus, for fp32 TEW on the CUDA cores, one residual pass before it; the
// tensor-core kernels run a TEW weight merged).
#include <algorithm>
#include <cstring>
#include <map>
#include <utility>
#include <vector>

#include "backends/cuda/check.hpp"
#include "backends/cuda/device_weight.hpp"
#include "backends/cuda/kernels.hpp"
#include "backends/cuda/library.hpp"
#include "backends/cuda/tw_launch.hpp"

namespace tilesparse::cuda {

namespace {

enum class TwKernel { wgmma, mma, simt };

struct TwPlan {
  int bn = 0;
  std::int32_t item_count = 0;
  gpu::DeviceBuffer items, rows, cols, values;
};

// What a TW weight keeps on the device: a plan per packing its kernels read (a weight run
// by both tensor-core kernels, e.g. when a benchmark forces one, holds both), and the
// scratch for Aᵀ of row-major calls, grown as needed. A TEW weight's plans come from
// TewWeight::merged() on the tensor cores and from its TW part on the CUDA cores; the
// two never meet in one state, as the weight's dtype picks one or the other (fp32: simt).
struct TwState : gpu::VendorState {
  std::map<TwPacking, TwPlan> plans;
  gpu::DeviceBuffer a_transposed;
};

// Column block of an item: the smallest of 32/64/128 that holds a tile (wider tiles
// are split into several items of 128).
int column_block(std::int64_t g) { return g <= 32 ? 32 : g <= 64 ? 64 : 128; }

std::int64_t round_up(std::int64_t v, std::int64_t to) { return (v + to - 1) / to * to; }

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

TwPlan make_plan(const TwWeight& w, TwPacking packing, const char* op) {
  TwPlan plan;
  const int bn = column_block(w.g);
  plan.bn = bn;
  require(w.n < (std::int64_t{1} << 31) && w.k < (std::int64_t{1} << 31), op, "K and N must fit int32");

  std::vector<TwItem> items;
  std::vector<std::int32_t> rows, cols(w.col_map.begin(), w.col_map.end());
  std::vector<float> packed;
  for (std::int64_t t = 0; t < w.tiles(); ++t) {
    const std::int64_t kept = w.kept_rows(t), padded = round_up(kept, kTwRowBlock), width = w.tile_cols(t);
    const std::int64_t rows_offset = static_cast<std::int64_t>(rows.size());
    for (std::int64_t r = 0; r < padded; ++r) rows.push_back(r < kept ? w.row_idx[w.row_ptr[t] + r] : -1);
    // TwItem::run_start: checked row by row, as an in-memory weight need not be validated.
    bool run = kept > 0 && kept == padded;
    for (std::int64_t r = 1; run && r < kept; ++r) run = rows[rows_offset + r] == rows[rows_offset] + r;
    const std::int32_t run_start = run ? rows[rows_offset] : -1;
    const float* tile = w.values.data() + w.value_ptr[t];  // [kept][width]
    for (std::int64_t c0 = 0; c0 < width; c0 += bn) {
      const std::int64_t cols_here = std::min<std::int64_t>(bn, width - c0);
      const std::int64_t offset = static_cast<std::int64_t>(packed.size());
      packed.resize(packed.size() + static_cast<std::size_t>(padded * bn), 0.0f);
      float* block = packed.data() + offset;
      for (std::int64_t r = 0; r < kept; ++r) {
        for (std::int64_t j = 0; j < cols_here; ++j) {
          const float v = tile[r * width + c0 + j];
          if (packing == TwPacking::simt_rows) {
            block[r * bn + j] = v;
          } else {  // per 64 kept rows a [bn][64] K-major image, 16-byte chunks XOR-swizzled by row
            const std::int64_t step = r / kTwRowBlock, rr = r % kTwRowBlock;
            block[step * bn * kTwRowBlock + j * kTwRowBlock + (((rr / 8) ^ (j % 8)) * 8) + rr % 8] = v;
          }
        }
      }
      items.push_back({static_cast<std::int32_t>(t * w.g + c0), static_cast<std::int32_t>(cols_here),
                       static_cast<std::int32_t>(kept), static_cast<std::int32_t>(t), rows_offset, offset, run_start});
    }
  }
  // Output columns the weight prunes entirely: items without rows, so the kernel writes
  // epilogue(0) (or the TEW residual) there in the same launch.
  std::vector<bool> kept_column(static_cast<std::size_t>(w.n), false);
  for (const std::int32_t c : w.col_map) kept_column[c] = true;
  const std::int64_t first_pruned = static_cast<std::int64_t>(cols.size());
  for (std::int64_t c = 0; c < w.n; ++c)
    if (!kept_column[c]) cols.push_back(static_cast<std::int32_t>(c));
  for (std::int64_t c0 = first_pruned; c0 < w.n; c0 += bn)
    items.push_back({static_cast<std::int32_t>(c0), static_cast<std::int32_t>(std::min<std::int64_t>(bn, w.n - c0)), 0,
                     -1, 0, 0, -1});
  // Heaviest first: one launch, the long items start before the short ones.
  std::stable_sort(items.begin(), items.end(), [](const TwItem& a, const TwItem& b) { return a.kept_rows > b.kept_rows; });

  plan.item_count = static_cast<std::int32_t>(items.size());
  plan.items = upload_vector(items);
  plan.rows = upload_vector(rows);
  plan.cols = upload_vector(cols);
  plan.values = upload_vector(encode(packed, w.dtype));
  return plan;
}

const TwWeight& tw_part(const Weight& w) {
  if (const auto* tew = std::get_if<TewWeight>(&w)) return tew->tw;
  return std::get<TwWeight>(w);
}

void run(const Args& x, TwKernel kernel, bool tew) {
  const char* op = tew ? "matmul[tew]" : "matmul[tw]";
  auto& impl = x.w.impl();
  TwState& state = impl.vendor_state<TwState>([] { return std::make_unique<TwState>(); });
  // TEW on the tensor cores: the merged weight, one TW launch. It costs at most what the
  // TW kernel costs at 0%, where the CUDA-core residual pass cost 3-5x more at every
  // measured δ and sparsity (H200, bench/NOTES.md). fp32 TEW: the TW part plus the pass.
  const bool with_residual = tew && kernel == TwKernel::simt;
  const TwPacking packing = kernel == TwKernel::wgmma ? TwPacking::wgmma_sw128 : TwPacking::simt_rows;
  auto found = state.plans.find(packing);
  if (found == state.plans.end()) {
    TwPlan plan = tew && !with_residual ? make_plan(std::get<TewWeight>(*impl.host).merged(), packing, op)
                                        : make_plan(tw_part(*impl.host), packing, op);
    found = state.plans.emplace(packing, std::move(plan)).first;
  }
  const TwPlan& plan = found->second;
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
  t.a = x.a.data();
  t.c = x.c.data();
  t.m = m;
  t.k = k;
  t.n = n;
  t.transposed = x.transposed();
  t.items = static_cast<const TwItem*>(plan.items.data());
  t.item_count = plan.item_count;
  t.rows = static_cast<const std::int32_t*>(plan.rows.data());
  t.cols = static_cast<const std::int32_t*>(plan.cols.data());
  t.values = plan.values.data();
  t.bn = plan.bn;
  t.bias = x.bias;
  t.activation = static_cast<int>(x.activation);
  t.accumulate = with_residual;
  t.compact = x.compact_output;
  t.n_out = x.compact_output ? x.w.kept_columns() : n;
  t.stream = native(x.stream);
  if (kernel == TwKernel::simt) {
    launch_tw_simt_f32(t);
    return;
  }
  // Tensor cores, row-major A: its kept K columns are scattered along each row; one
  // transpose pass turns them into whole rows of Aᵀ for the coalesced 16-byte gathers.
  if (!x.transposed() && m % 8 == 0 && k > 0) {
    const std::size_t bytes = static_cast<std::size_t>(m * k) * size_of(x.w.dtype());
    if (state.a_transposed.bytes() < bytes) state.a_transposed = gpu::DeviceBuffer(bytes);
    launch_transpose(x.a.data(), state.a_transposed.data(), m, k, native(x.stream));
    t.a_transposed = state.a_transposed.data();
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

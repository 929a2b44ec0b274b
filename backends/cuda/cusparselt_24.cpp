// cuSPARSELt 2:4 baseline: Cᵀ (N x M) = Wᵀ · Aᵀ, untransposed. The structured operand is
// Wᵀ (N x K) stored row-major (sparse along its contiguous K axis, the layout PyTorch's
// 2:4 path uses); Aᵀ and Cᵀ are the row-major A and C read column-major. cuSPARSELt wants dimensions in multiples of its tile, so K and N
// are padded with zeros once per weight; M is padded per plan (activations copied into a
// zeroed buffer) only when it is not a multiple already.
#include <cusparseLt.h>

#include <map>
#include <vector>

#include "backends/cuda/check.hpp"
#include "backends/cuda/device_weight.hpp"
#include "backends/cuda/kernels.hpp"
#include "backends/cuda/library.hpp"

namespace tilesparse::cuda {

namespace {

constexpr std::int64_t kPad = 32;    // multiple for every dimension (safe for 16-bit types)
constexpr std::uint32_t kAlign = 16;  // bytes; cudaMalloc gives 256

std::int64_t round_up(std::int64_t v, std::int64_t to) { return (std::max<std::int64_t>(v, 1) + to - 1) / to * to; }

void check_lt(cusparseStatus_t s, const char* call, const char* file, int line) {
  if (s != CUSPARSE_STATUS_SUCCESS) fail("cusparselt", call, cusparseLtGetErrorString(s), file, line);
}
#define TS_CHECK_LT(call) check_lt((call), #call, __FILE__, __LINE__)

struct LtHandle {
  cusparseLtHandle_t h{};
  LtHandle() { TS_CHECK_LT(cusparseLtInit(&h)); }
  ~LtHandle() { cusparseLtDestroy(&h); }
};

const cusparseLtHandle_t* lt_handle() {
  thread_local LtHandle handle;
  return &handle.h;
}

struct MatDescriptor {
  cusparseLtMatDescriptor_t d{};
  bool live = false;
  ~MatDescriptor() {
    if (live) cusparseLtMatDescriptorDestroy(&d);
  }
  void dense(std::int64_t rows, std::int64_t cols, DType t) {
    TS_CHECK_LT(cusparseLtDenseDescriptorInit(lt_handle(), &d, rows, cols, rows, kAlign, data_type(t), CUSPARSE_ORDER_COL));
    live = true;
  }
};

// Everything that depends on M: descriptors, the plan, its workspace and the
// padded activation/output buffers (only when M, K or N needed padding).
struct Plan {
  std::int64_t m_pad = 0;
  MatDescriptor b, d;
  cusparseLtMatmulDescriptor_t matmul{};
  cusparseLtMatmulAlgSelection_t selection{};
  cusparseLtMatmulPlan_t plan{};
  bool live = false;
  gpu::DeviceBuffer workspace, a_pad, c_pad;
  ~Plan() {
    if (live) {
      cusparseLtMatmulPlanDestroy(&plan);
      cusparseLtMatmulAlgSelectionDestroy(&selection);
    }
  }
};

struct LtState : gpu::VendorState {
  std::int64_t k_pad = 0, n_pad = 0;
  MatDescriptor sparse;  // Wᵀ, n_pad x k_pad, row-major
  gpu::DeviceBuffer compressed;
  std::map<std::int64_t, std::unique_ptr<Plan>> plans;  // by M
};

std::unique_ptr<LtState> prepare(const Sp24Weight& w, const gpu::Stream& stream) {
  auto st = std::make_unique<LtState>();
  st->k_pad = round_up(w.k, kPad);
  st->n_pad = round_up(w.n, kPad);
  const HostMatrix dense = w.to_dense();
  HostMatrix padded(st->n_pad, st->k_pad, w.dtype);  // Wᵀ, zero-padded
  for (std::int64_t r = 0; r < w.k; ++r)
    for (std::int64_t c = 0; c < w.n; ++c) padded.set(c, r, dense(r, c));
  const gpu::DeviceMatrix d = gpu::DeviceMatrix::upload(padded);
  TS_CHECK_LT(cusparseLtStructuredDescriptorInit(lt_handle(), &st->sparse.d, st->n_pad, st->k_pad, st->k_pad, kAlign,
                                                 data_type(w.dtype), CUSPARSE_ORDER_ROW, CUSPARSELT_SPARSITY_50_PERCENT));
  st->sparse.live = true;
  const auto op = CUSPARSE_OPERATION_NON_TRANSPOSE;
  gpu::DeviceBuffer valid(sizeof(int));
  valid.fill_bytes(0, stream);  // the check only writes when it finds a fault
  TS_CHECK_LT(cusparseLtSpMMAPruneCheck2(lt_handle(), &st->sparse.d, 1, op, d.data(), static_cast<int*>(valid.data()),
                                         native(stream)));
  std::size_t size = 0, buffer_size = 0;
  TS_CHECK_LT(cusparseLtSpMMACompressedSize2(lt_handle(), &st->sparse.d, &size, &buffer_size));
  st->compressed = gpu::DeviceBuffer(size);
  gpu::DeviceBuffer scratch(buffer_size);
  TS_CHECK_LT(cusparseLtSpMMACompress2(lt_handle(), &st->sparse.d, 1, op, d.data(), st->compressed.data(),
                                       scratch.data(), native(stream)));
  stream.synchronize();
  int is_invalid = 0;
  valid.download(&is_invalid, sizeof(int));
  require(is_invalid == 0, "matmul[24/cusparselt]", "cuSPARSELt rejects the weight as not 2:4 along K");
  return st;
}

Plan& plan_for(LtState& s, const Args& x) {
  const std::int64_t m = x.a.rows();
  auto& slot = s.plans[m];
  if (slot) return *slot;
  auto p = std::make_unique<Plan>();
  const DType t = x.w.dtype();
  const std::size_t es = size_of(t);
  p->m_pad = round_up(m, kPad);
  p->b.dense(s.k_pad, p->m_pad, t);
  p->d.dense(s.n_pad, p->m_pad, t);
  const auto op = CUSPARSE_OPERATION_NON_TRANSPOSE;
  TS_CHECK_LT(cusparseLtMatmulDescriptorInit(lt_handle(), &p->matmul, op, op, &s.sparse.d, &p->b.d, &p->d.d, &p->d.d,
                                             CUSPARSE_COMPUTE_32F));
  TS_CHECK_LT(cusparseLtMatmulAlgSelectionInit(lt_handle(), &p->selection, &p->matmul, CUSPARSELT_MATMUL_ALG_DEFAULT));
  TS_CHECK_LT(cusparseLtMatmulPlanInit(lt_handle(), &p->plan, &p->matmul, &p->selection));
  p->live = true;
  if (p->m_pad != m || s.k_pad != x.w.k()) {
    p->a_pad = gpu::DeviceBuffer(static_cast<std::size_t>(p->m_pad * s.k_pad) * es);
    p->a_pad.fill_bytes(0, x.stream);  // the pad stays zero: calls only overwrite the M x K corner
  }
  if (p->m_pad != m || s.n_pad != x.w.n()) p->c_pad = gpu::DeviceBuffer(static_cast<std::size_t>(p->m_pad * s.n_pad) * es);
  // No cusparseLtMatmulSearch: on the H100 with cuSPARSELt 0.8 it failed for fp16 with
  // an internal error that left the context dead (illegal instruction), so the plan keeps
  // the library's default algorithm. Either way the plan is made once per (weight, M).
  std::size_t ws = 0;
  TS_CHECK_LT(cusparseLtMatmulGetWorkspace(lt_handle(), &p->plan, &ws));
  p->workspace = gpu::DeviceBuffer(ws);
  slot = std::move(p);
  return *slot;
}

}  // namespace

void cusparselt_24(const Args& x) {
  const std::int64_t m = x.a.rows(), k = x.w.k(), n = x.w.n();
  if (m == 0 || n == 0) return;
  auto& impl = x.w.impl();
  LtState& s = impl.vendor_state<LtState>([&] { return prepare(std::get<Sp24Weight>(*impl.host), x.stream); });
  Plan& p = plan_for(s, x);
  const std::size_t es = size_of(x.w.dtype());
  cudaStream_t st = native(x.stream);
  if (p.a_pad.data())
    TS_CHECK(cudaMemcpy2DAsync(p.a_pad.data(), s.k_pad * es, x.a.data(), k * es, k * es, m, cudaMemcpyDeviceToDevice, st));
  const void* b = p.a_pad.data() ? p.a_pad.data() : x.a.data();
  void* d = p.c_pad.data() ? p.c_pad.data() : x.c.data();
  const float alpha = 1.0f, beta = 0.0f;
  TS_CHECK_LT(cusparseLtMatmul(lt_handle(), &p.plan, &alpha, s.compressed.data(), b, &beta, d, d, p.workspace.data(), &st, 1));
  if (p.c_pad.data())
    TS_CHECK(cudaMemcpy2DAsync(x.c.data(), n * es, p.c_pad.data(), s.n_pad * es, n * es, m, cudaMemcpyDeviceToDevice, st));
}

}  // namespace tilesparse::cuda

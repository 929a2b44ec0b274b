// cuSPARSE SpMM baselines. Our ew and bw formats are CSR/BSR of Wᵀ (N x K), so
// Cᵀ (N x M) = Wᵀ · Aᵀ (K x M), where Aᵀ and Cᵀ are the row-major A and C read
// column-major, or, in the transposed layout, Aᵀ and Cᵀ themselves (row-major). The sparse descriptor and the int32 offsets are built once per weight;
// the SpMM workspace and its preprocessing are made once per M.
#include <map>
#include <utility>
#include <vector>

#include "backends/cuda/check.hpp"
#include "backends/cuda/device_weight.hpp"
#include "backends/cuda/kernels.hpp"
#include "backends/cuda/library.hpp"

namespace tilesparse::cuda {

namespace {

struct SpmmState : gpu::VendorState {
  cusparseSpMatDescr_t mat = nullptr;
  gpu::DeviceBuffer row_ptr32;  // cuSPARSE wants one index type for offsets and columns
  // Per (M, transposed layout): the SpMM workspace, holding the analysis
  // cusparseSpMM_preprocess made once.
  std::map<std::pair<std::int64_t, bool>, gpu::DeviceBuffer> workspaces;
  std::int64_t nnz = 0;
  ~SpmmState() override {
    if (mat) cusparseDestroySpMat(mat);
  }
};

// Our offsets are int64; the stored count (nnz or blocks) must fit int32 for cuSPARSE.
gpu::DeviceBuffer offsets_as_int32(const std::vector<std::int64_t>& row_ptr, const char* op) {
  std::vector<std::int32_t> r32(row_ptr.size());
  for (std::size_t i = 0; i < row_ptr.size(); ++i) r32[i] = as_int(row_ptr[i], "row_ptr entry", op);
  gpu::DeviceBuffer b(r32.size() * sizeof(std::int32_t));
  b.upload(r32.data(), b.bytes());
  return b;
}

struct DenseDescriptor {
  cusparseDnMatDescr_t d = nullptr;
  DenseDescriptor(std::int64_t rows, std::int64_t cols, std::int64_t ld, void* data, DType t, cusparseOrder_t order) {
    TS_CHECK(cusparseCreateDnMat(&d, rows, cols, ld, data, data_type(t), order));
  }
  ~DenseDescriptor() { cusparseDestroyDnMat(d); }
};

// Cᵀ[n_rows x M] = S · Aᵀ[k_rows x M], S the prepared sparse Wᵀ.
void run_spmm(const Args& x, SpmmState& s, std::int64_t k_rows, std::int64_t n_rows) {
  const std::int64_t m = x.m(), n = x.w.n();
  if (m == 0 || n == 0) return;
  if (s.nnz == 0) {
    TS_CHECK(cudaMemsetAsync(x.c.data(), 0, static_cast<std::size_t>(m * n) * size_of(x.c.dtype()), native(x.stream)));
    return;
  }
  cusparseHandle_t h = cusparse_handle(x.stream);
  const DType t = x.w.dtype();
  // Row-major A and C are Aᵀ and Cᵀ read column-major; the transposed layout hands
  // cuSPARSE Aᵀ and Cᵀ row-major, the order its CSR SpMM reads fastest.
  const bool row = x.transposed();
  const cusparseOrder_t order = row ? CUSPARSE_ORDER_ROW : CUSPARSE_ORDER_COL;
  DenseDescriptor b(k_rows, m, row ? m : k_rows, x.a.data(), t, order);
  DenseDescriptor c(n_rows, m, row ? m : n_rows, x.c.data(), t, order);
  const float alpha = 1.0f, beta = 0.0f;
  const auto op = CUSPARSE_OPERATION_NON_TRANSPOSE;
  auto [slot, fresh] = s.workspaces.try_emplace(std::pair{m, row});
  if (fresh) {
    std::size_t need = 0;
    TS_CHECK(cusparseSpMM_bufferSize(h, op, op, &alpha, s.mat, b.d, &beta, c.d, CUDA_R_32F, CUSPARSE_SPMM_ALG_DEFAULT, &need));
    slot->second = gpu::DeviceBuffer(need);
    // Preprocessing is an optional speed-up; formats/algorithms without it say NOT_SUPPORTED.
    const cusparseStatus_t pre = cusparseSpMM_preprocess(h, op, op, &alpha, s.mat, b.d, &beta, c.d, CUDA_R_32F,
                                                         CUSPARSE_SPMM_ALG_DEFAULT, slot->second.data());
    if (pre != CUSPARSE_STATUS_NOT_SUPPORTED) TS_CHECK(pre);
  }
  TS_CHECK(cusparseSpMM(h, op, op, &alpha, s.mat, b.d, &beta, c.d, CUDA_R_32F, CUSPARSE_SPMM_ALG_DEFAULT,
                        slot->second.data()));
}

}  // namespace

void cusparse_csr(const Args& x) {
  const char* op = "matmul[ew/cusparse.csr]";
  auto& impl = x.w.impl();
  SpmmState& s = impl.vendor_state<SpmmState>([&] {
    const auto& w = std::get<EwWeight>(*impl.host);
    auto st = std::make_unique<SpmmState>();
    st->nnz = static_cast<std::int64_t>(w.k_idx.size());
    as_int(st->nnz, "nnz", op);
    st->row_ptr32 = offsets_as_int32(w.row_ptr, op);
    TS_CHECK(cusparseCreateCsr(&st->mat, w.n, w.k, st->nnz, st->row_ptr32.data(), impl.array("k_idx").buffer.data(),
                               impl.array("values").buffer.data(), CUSPARSE_INDEX_32I, CUSPARSE_INDEX_32I,
                               CUSPARSE_INDEX_BASE_ZERO, data_type(w.dtype)));
    return st;
  });
  run_spmm(x, s, x.w.k(), x.w.n());
}

void cusparse_bsr(const Args& x) {
  const char* op = "matmul[bw/cusparse.bsr]";
  auto& impl = x.w.impl();
  const auto& w = std::get<BwWeight>(*impl.host);
  // BSR covers whole blocks: Aᵀ and Cᵀ would be read/written past K and N otherwise.
  require(w.k % w.bk == 0 && w.n % w.bn == 0, op,
          "cuSPARSE BSR needs K a multiple of bk and N a multiple of bn (K=" + std::to_string(w.k) + ", bk=" +
              std::to_string(w.bk) + ", N=" + std::to_string(w.n) + ", bn=" + std::to_string(w.bn) + ")");
  SpmmState& s = impl.vendor_state<SpmmState>([&] {
    auto st = std::make_unique<SpmmState>();
    st->nnz = w.blocks();
    as_int(st->nnz * w.bk * w.bn, "stored values", op);
    st->row_ptr32 = offsets_as_int32(w.row_ptr, op);
    TS_CHECK(cusparseCreateBsr(&st->mat, w.block_rows(), w.block_cols(), st->nnz, w.bn, w.bk,
                               st->row_ptr32.data(), impl.array("kb_idx").buffer.data(),
                               impl.array("values").buffer.data(), CUSPARSE_INDEX_32I, CUSPARSE_INDEX_32I,
                               CUSPARSE_INDEX_BASE_ZERO, data_type(w.dtype), CUSPARSE_ORDER_ROW));
    return st;
  });
  run_spmm(x, s, w.k, w.n);
}

}  // namespace tilesparse::cuda

#pragma once
// The CUDA kernel entries of the dispatch table (src/ops.cpp). Each takes device
// operands already checked for shape and dtype by the table's caller, runs
// asynchronously on the stream, and writes every element of c.
#include "tilesparse/gpu.hpp"

namespace tilesparse::cuda {

struct Args {
  const gpu::DeviceMatrix& a;   // A (M x K) or, transposed, Aᵀ (K x M); dtype of w
  const gpu::DeviceWeight& w;   // K x N
  gpu::DeviceMatrix& c;         // C (M x N) or, transposed, Cᵀ (N x M); dtype of w
  const gpu::Stream& stream;
  gpu::Layout layout = gpu::Layout::row_major;
  // The epilogue, for entries that fuse it (KernelEntry::fuses_epilogue); otherwise
  // none here and the caller runs apply_epilogue afterwards.
  const float* bias = nullptr;  // N values on the device, or null
  Activation activation = Activation::none;
  bool compact_output = false;  // TW: C holds the kept columns only (gpu::DeviceOptions)

  bool transposed() const { return layout == gpu::Layout::transposed; }
  std::int64_t m() const { return transposed() ? a.cols() : a.rows(); }
};

// cuBLAS GEMM of the dense weight, fp32 accumulation (fp32 without TF32); both layouts.
void cublas_dense(const Args& x);
// cuSPARSE SpMM, Cᵀ = Wᵀ·Aᵀ: ew is CSR of Wᵀ (both layouts; the transposed one is the
// layout cuSPARSE reads fastest), bw is BSR of Wᵀ (row-major only).
void cusparse_csr(const Args& x);
void cusparse_bsr(const Args& x);
// Our TW kernels (tw_matmul.cpp), both layouts, fused epilogue: f16/bf16 on the tensor
// cores through wgmma (sm_90a, compute capability 9.x only) or mma.sync (sm_80+), f32 on
// the CUDA cores (simt). TEW on the tensor cores runs TewWeight::merged() as one TW
// launch; fp32 TEW adds its CSR residual in one pass before the TW launch.
void tw_wgmma(const Args& x);
void tw_mma(const Args& x);
void tw_simt(const Args& x);
void tew_wgmma(const Args& x);
void tew_mma(const Args& x);
void tew_simt(const Args& x);
#if TILESPARSE_HAS_CUSPARSELT
// cuSPARSELt on the 2:4 sparse tensor cores (f16/bf16): compression once per weight,
// a plan once per (weight, M), both cached; no algorithm search (see cusparselt_24.cpp).
void cusparselt_24(const Args& x);
#endif

// c = activation(c + bias) in place, bias indexed by output feature (the column of C, the
// row of Cᵀ); nothing to do without bias and activation.
void apply_epilogue(gpu::DeviceMatrix& c, const float* bias, Activation activation, gpu::Layout layout,
                    const gpu::Stream& stream);

}  // namespace tilesparse::cuda

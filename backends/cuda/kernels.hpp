#pragma once
// The CUDA kernel entries of the dispatch table (src/ops.cpp). Each takes device
// operands already checked for shape and dtype by the table's caller, runs
// asynchronously on the stream, and writes every element of c.
#include "tilesparse/gpu.hpp"

namespace tilesparse::cuda {

struct Args {
  const gpu::DeviceMatrix& a;   // M x K, dtype of w
  const gpu::DeviceWeight& w;   // K x N
  gpu::DeviceMatrix& c;         // M x N, dtype of w
  const gpu::Stream& stream;
};

// cuBLAS GEMM of the dense weight, fp32 accumulation (fp32 without TF32).
void cublas_dense(const Args& x);
// cuSPARSE SpMM, Cᵀ = Wᵀ·Aᵀ: ew is CSR of Wᵀ, bw is BSR of Wᵀ.
void cusparse_csr(const Args& x);
void cusparse_bsr(const Args& x);
#if TILESPARSE_HAS_CUSPARSELT
// cuSPARSELt on the 2:4 sparse tensor cores (f16/bf16): compression once per weight,
// a plan once per (weight, M), both cached; no algorithm search (see cusparselt_24.cpp).
void cusparselt_24(const Args& x);
#endif

// c = activation(c + bias) in place; nothing to do for an empty epilogue.
void apply_epilogue(gpu::DeviceMatrix& c, const Epilogue& epilogue, const gpu::Stream& stream);

}  // namespace tilesparse::cuda

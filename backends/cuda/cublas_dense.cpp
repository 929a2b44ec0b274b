// Dense baseline: cuBLAS GEMM. Row-major C = A·W is column-major Cᵀ = Wᵀ·Aᵀ, and a
// row-major K x N W is already a column-major N x K Wᵀ, so no transposes are needed; the
// transposed layout (Aᵀ, Cᵀ) reads W with op T instead.
#include "backends/cuda/check.hpp"
#include "backends/cuda/device_weight.hpp"
#include "backends/cuda/kernels.hpp"
#include "backends/cuda/library.hpp"

namespace tilesparse::cuda {

void cublas_dense(const Args& x) {
  const std::int64_t m = x.m(), k = x.w.k(), n = x.w.n();
  if (m == 0 || n == 0) return;
  if (k == 0) {  // an empty sum: cuBLAS may skip writing C
    TS_CHECK(cudaMemsetAsync(x.c.data(), 0, static_cast<std::size_t>(m * n) * size_of(x.c.dtype()), native(x.stream)));
    return;
  }
  const char* op = "matmul[dense/cublas]";
  const float alpha = 1.0f, beta = 0.0f;
  const cudaDataType t = data_type(x.w.dtype());
  const void* w = x.w.impl().array("values").buffer.data();
  const int mi = as_int(m, "M", op), ni = as_int(n, "N", op), ki = as_int(k, "K", op);
  if (x.transposed()) {
    // Cᵀ (N x M row-major) is C column-major: C = A · W with Aᵀ (K x M row-major) = A
    // column-major, and W row-major = Wᵀ column-major, hence op T.
    TS_CHECK(cublasGemmEx(cublas_handle(x.stream), CUBLAS_OP_N, CUBLAS_OP_T, mi, ni, ki, &alpha, x.a.data(), t, mi, w,
                          t, ni, &beta, x.c.data(), t, mi, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return;
  }
  TS_CHECK(cublasGemmEx(cublas_handle(x.stream), CUBLAS_OP_N, CUBLAS_OP_N, ni, mi, ki, &alpha, w, t, ni, x.a.data(), t,
                        ki, &beta, x.c.data(), t, ni, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

}  // namespace tilesparse::cuda

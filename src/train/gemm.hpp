#pragma once
// Row-major single-precision GEMM for the trainer: C[m x n] = alpha·op(A)·op(B) + beta·C,
// op(X) = Xᵀ when the flag is set. A is m x k (k x m when transposed), B is k x n
// (n x k when transposed), all contiguous.
#include <cstdint>

namespace tilesparse::detail {

// CBLAS sgemm when the library was built with it, else sgemm_blocked.
void sgemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha, const float* a,
           const float* b, float beta, float* c);

// The portable fallback: copies transposed operands to row-major, then i-k-j loops over
// cache blocks of k so the inner loop streams rows of B and C.
void sgemm_blocked(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
                   const float* a, const float* b, float beta, float* c);

}  // namespace tilesparse::detail

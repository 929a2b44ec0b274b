#include "src/train/gemm.hpp"

#include <algorithm>
#include <vector>

#ifdef TILESPARSE_HAS_CBLAS
#include <cblas.h>
#endif

namespace tilesparse::detail {
namespace {

// rows x cols row-major copy of the transpose of x (cols x rows).
std::vector<float> transpose(const float* x, std::int64_t rows, std::int64_t cols) {
  std::vector<float> t(static_cast<std::size_t>(rows * cols));
  for (std::int64_t r = 0; r < cols; ++r) {
    for (std::int64_t c = 0; c < rows; ++c) t[c * cols + r] = x[r * rows + c];
  }
  return t;
}

}  // namespace

void sgemm_blocked(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
                   const float* a, const float* b, float beta, float* c) {
  std::vector<float> at, bt;
  if (trans_a) a = (at = transpose(a, m, k)).data();
  if (trans_b) b = (bt = transpose(b, k, n)).data();
  for (std::int64_t i = 0; i < m * n; ++i) c[i] = beta == 0.0f ? 0.0f : beta * c[i];
  constexpr std::int64_t kBlock = 256;  // a block of B rows (256 x n floats) stays in L2
  for (std::int64_t k0 = 0; k0 < k; k0 += kBlock) {
    const std::int64_t k1 = std::min(k, k0 + kBlock);
    for (std::int64_t i = 0; i < m; ++i) {
      float* ci = c + i * n;
      for (std::int64_t p = k0; p < k1; ++p) {
        const float aip = alpha * a[i * k + p];
        const float* bp = b + p * n;
        for (std::int64_t j = 0; j < n; ++j) ci[j] += aip * bp[j];
      }
    }
  }
}

void sgemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha, const float* a,
           const float* b, float beta, float* c) {
  if (m == 0 || n == 0) return;
  // CBLAS rejects leading dimensions of 0; an empty reduction only scales C.
  if (k == 0) return sgemm_blocked(trans_a, trans_b, m, n, k, alpha, a, b, beta, c);
#ifdef TILESPARSE_HAS_CBLAS
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha, a,
              static_cast<int>(trans_a ? m : k), b, static_cast<int>(trans_b ? k : n), beta, c, static_cast<int>(n));
#else
  sgemm_blocked(trans_a, trans_b, m, n, k, alpha, a, b, beta, c);
#endif
}

}  // namespace tilesparse::detail

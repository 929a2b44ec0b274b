#include "backends/ref/matmul_ref.hpp"

namespace tilesparse::ref {

Accumulator matmul_dense(const HostMatrix& a, const DenseWeight& dw) {
  const HostMatrix& w = dw.w;
  const std::int64_t m = a.rows(), k = a.cols(), n = w.cols();
  Accumulator acc(static_cast<std::size_t>(m * n), 0.0);
  parallel_rows(m, k * n, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t i = r0; i < r1; ++i) {
      double* out = acc.data() + i * n;  // not &acc[...]: acc is empty when n == 0
      for (std::int64_t p = 0; p < k; ++p) {
        const double x = a(i, p);
        if (x == 0.0) continue;
        for (std::int64_t j = 0; j < n; ++j) out[j] += x * static_cast<double>(w(p, j));
      }
    }
  });
  return acc;
}

}  // namespace tilesparse::ref

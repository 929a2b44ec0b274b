#include <algorithm>

#include "backends/ref/matmul_ref.hpp"

namespace tilesparse::ref {

Accumulator matmul_bw(const HostMatrix& a, const BwWeight& w) {
  const std::int64_t m = a.rows(), k = w.k, n = w.n, bk = w.bk, bn = w.bn;
  Accumulator acc(static_cast<std::size_t>(m * n), 0.0);
  parallel_rows(m, static_cast<std::int64_t>(w.values.size()), [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t i = r0; i < r1; ++i) {
      double* out = acc.data() + i * n;  // not &acc[...]: acc is empty when n == 0
      for (std::int64_t nb = 0; nb < w.block_rows(); ++nb) {
        const std::int64_t n0 = nb * bn, cols = std::min(bn, n - n0);
        for (std::int64_t p = w.row_ptr[nb]; p < w.row_ptr[nb + 1]; ++p) {
          // Only the in-matrix part of an edge block: its padding is zero and past A's columns.
          const std::int64_t k0 = w.kb_idx[p] * bk, rows = std::min(bk, k - k0);
          const float* block = &w.values[p * bn * bk];
          for (std::int64_t jn = 0; jn < cols; ++jn) {
            double sum = 0.0;
            for (std::int64_t jk = 0; jk < rows; ++jk)
              sum += static_cast<double>(a(i, k0 + jk)) * static_cast<double>(block[jn * bk + jk]);
            out[n0 + jn] += sum;
          }
        }
      }
    }
  });
  return acc;
}

}  // namespace tilesparse::ref

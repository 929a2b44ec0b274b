#include "backends/ref/matmul_ref.hpp"

namespace tilesparse::ref {

Accumulator matmul_ew(const HostMatrix& a, const EwWeight& w) {
  const std::int64_t m = a.rows(), n = w.n;
  Accumulator acc(static_cast<std::size_t>(m * n), 0.0);
  parallel_rows(m, static_cast<std::int64_t>(w.k_idx.size()), [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t i = r0; i < r1; ++i) {
      for (std::int64_t j = 0; j < n; ++j) {
        double sum = 0.0;
        for (std::int64_t p = w.row_ptr[j]; p < w.row_ptr[j + 1]; ++p)
          sum += static_cast<double>(a(i, w.k_idx[p])) * static_cast<double>(w.values[p]);
        acc[i * n + j] = sum;
      }
    }
  });
  return acc;
}

}  // namespace tilesparse::ref

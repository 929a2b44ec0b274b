#include "backends/ref/matmul_ref.hpp"

namespace tilesparse::ref {

// Reads positions through Sp24Weight::position(), the same accessor to_dense and
// validate use, so the reference checks the metadata layout the kernels will read.
Accumulator matmul_sp24(const HostMatrix& a, const Sp24Weight& w) {
  const std::int64_t m = a.rows(), n = w.n, k = w.k, groups = w.k_pad / 4;
  Accumulator acc(static_cast<std::size_t>(m * n), 0.0);
  parallel_rows(m, n * w.k_pad / 2, [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t i = r0; i < r1; ++i) {
      for (std::int64_t j = 0; j < n; ++j) {
        const float* vals = &w.values[static_cast<std::size_t>(j * (w.k_pad / 2))];
        double sum = 0.0;
        for (std::int64_t grp = 0; grp < groups; ++grp)
          for (int slot = 0; slot < 2; ++slot) {
            const std::int64_t kk = 4 * grp + w.position(j, grp, slot);
            if (kk < k) sum += static_cast<double>(a(i, kk)) * vals[2 * grp + slot];
          }
        acc[static_cast<std::size_t>(i * n + j)] = sum;
      }
    }
  });
  return acc;
}

}  // namespace tilesparse::ref

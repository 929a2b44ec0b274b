#include "backends/ref/matmul_ref.hpp"

namespace tilesparse::ref {

// Each tile as the kernels see it: gather the tile's kept rows of A, multiply by the
// dense block, scatter into the tile's output columns.
Accumulator matmul_tw(const HostMatrix& a, const TwWeight& w) {
  const std::int64_t m = a.rows(), n = w.n;
  Accumulator acc(static_cast<std::size_t>(m * n), 0.0);
  parallel_rows(m, static_cast<std::int64_t>(w.values.size()), [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t i = r0; i < r1; ++i) {
      double* out = acc.data() + i * n;  // not &acc[...]: acc is empty when n == 0
      for (std::int64_t t = 0; t < w.tiles(); ++t) {
        const std::int64_t tc = w.tile_cols(t);
        const std::int32_t* cols = &w.col_map[static_cast<std::size_t>(t * w.g)];
        const float* block = w.values.data() + w.value_ptr[t];
        for (std::int64_t r = w.row_ptr[t]; r < w.row_ptr[t + 1]; ++r) {
          const double x = a(i, w.row_idx[r]);
          const float* row = block + (r - w.row_ptr[t]) * tc;
          for (std::int64_t c = 0; c < tc; ++c) out[cols[c]] += x * static_cast<double>(row[c]);
        }
      }
    }
  });
  return acc;
}

Accumulator matmul_tew(const HostMatrix& a, const TewWeight& w) {
  Accumulator acc = matmul_tw(a, w.tw);
  const Accumulator residual = matmul_ew(a, w.residual);
  for (std::size_t i = 0; i < acc.size(); ++i) acc[i] += residual[i];
  return acc;
}

}  // namespace tilesparse::ref

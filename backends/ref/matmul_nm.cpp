#include "backends/ref/matmul_ref.hpp"
#include "src/formats/nm_layout.hpp"

namespace tilesparse::ref {

Accumulator matmul_nm(const HostMatrix& a, const NmWeight& w) {
  const std::int64_t m = a.rows(), n = w.n;
  const detail::NmLayout layout = detail::NmLayout::of(w);
  Accumulator acc(static_cast<std::size_t>(m * n), 0.0);
  parallel_rows(m, static_cast<std::int64_t>(w.values.size()), [&](std::int64_t r0, std::int64_t r1) {
    for (std::int64_t i = r0; i < r1; ++i) {
      double* out = acc.data() + i * n;  // not &acc[...]: acc is empty when n == 0
      for (std::int64_t slot = 0; slot < w.slots(); ++slot) {
        const std::int64_t g = slot / w.keep;
        for (std::int64_t cu = 0; cu < layout.column_units(); ++cu) {
          // A slot's unit offset selects which rows of A meet its values.
          const int offset = w.index(slot, cu);
          const detail::Span rows = layout.unit_rows_span(g, offset), cols = layout.columns(cu);
          const std::int64_t start = layout.unit_start(g, offset);
          for (std::int64_t r = rows.begin; r < rows.end; ++r) {
            const double x = a(i, r);
            const float* v = &w.values[(slot * w.unit_rows + r - start) * n];
            for (std::int64_t c = cols.begin; c < cols.end; ++c) out[c] += x * static_cast<double>(v[c]);
          }
        }
      }
    }
  });
  return acc;
}

}  // namespace tilesparse::ref

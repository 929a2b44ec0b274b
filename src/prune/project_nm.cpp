#include <algorithm>
#include <numeric>

#include "src/formats/nm_layout.hpp"
#include "src/prune/projectors.hpp"

namespace tilesparse::detail {

// Per group and column unit, the units with the highest mean score (over their
// in-matrix elements) are kept, ties towards the lower offset.
//
// Partial last group (u < group units because K is not a multiple of group*unit_rows):
// keeping min(keep, u) units everywhere would keep up to all of it (2:4 with one unit
// left keeps 100%). Instead the row of groups keeps round(keep*u/group * column_units)
// units in total: every column unit keeps `base` = floor(total/column_units) and the
// remaining ones go, one each, to the column units whose next-best unit scores highest.
// So the achieved sparsity is within half a unit of 1 - keep/group (counted in units).
// Every group obeys N:M: total <= column_units * min(keep, u), so a column unit given an
// extra unit had base < min(keep, u).
// For full groups the rule is the plain "keep the top `keep`".
// A unit holding an element that `allowed` forbids ranks last and is never kept, even
// when that leaves its group with fewer than its quota.
Mask project_nm(const HostMatrix& scores, const PatternSpec& spec, const Mask* allowed) {
  const NmLayout L = NmLayout::of(spec, scores.rows(), scores.cols());
  const std::int64_t units = L.column_units();
  Mask mask(L.k, L.n, false);
  if (units == 0) return mask;
  std::vector<std::vector<int>> ranked(static_cast<std::size_t>(units));
  std::vector<std::vector<double>> score(static_cast<std::size_t>(units));
  std::vector<std::vector<char>> forced(static_cast<std::size_t>(units));
  for (std::int64_t g = 0; g < L.groups(); ++g) {
    const int u = L.units_in_group(g);
    for (std::int64_t cu = 0; cu < units; ++cu) {
      const Span cols = L.columns(cu);
      auto& s = score[cu];
      auto& f = forced[cu];
      s.assign(static_cast<std::size_t>(u), 0.0);
      f.assign(static_cast<std::size_t>(u), 0);
      for (int o = 0; o < u; ++o) {
        const Span rows = L.unit_rows_span(g, o);
        double sum = 0.0;
        for (std::int64_t r = rows.begin; r < rows.end; ++r)
          for (std::int64_t c = cols.begin; c < cols.end; ++c) {
            sum += scores(r, c);
            f[o] = f[o] || !may_keep(allowed, r, c);
          }
        s[o] = sum / static_cast<double>(rows.size() * cols.size());
      }
      auto& rank = ranked[cu];
      rank.resize(static_cast<std::size_t>(u));
      std::iota(rank.begin(), rank.end(), 0);
      std::sort(rank.begin(), rank.end(), [&](int a, int b) {
        if (f[a] != f[b]) return f[b] != 0;
        return s[a] > s[b] || (s[a] == s[b] && a < b);
      });
    }
    const std::int64_t total = (2 * static_cast<std::int64_t>(L.keep) * u * units + L.group) / (2 * L.group);
    const std::int64_t base = total / units, extra = total % units;
    std::vector<std::int64_t> takers(static_cast<std::size_t>(units));
    std::iota(takers.begin(), takers.end(), std::int64_t{0});
    if (extra > 0) {
      auto next_best = [&](std::int64_t cu) {
        const int o = ranked[cu][base];
        return forced[cu][o] ? -1.0 : score[cu][o];
      };
      std::stable_sort(takers.begin(), takers.end(),
                       [&](std::int64_t a, std::int64_t b) { return next_best(a) > next_best(b); });
    }
    std::vector<std::int64_t> quota(static_cast<std::size_t>(units), base);
    for (std::int64_t i = 0; i < extra; ++i) ++quota[takers[i]];
    for (std::int64_t cu = 0; cu < units; ++cu) {
      const Span cols = L.columns(cu);
      for (std::int64_t t = 0; t < quota[cu]; ++t) {
        if (forced[cu][ranked[cu][t]]) break;
        const Span rows = L.unit_rows_span(g, ranked[cu][t]);
        for (std::int64_t r = rows.begin; r < rows.end; ++r)
          for (std::int64_t c = cols.begin; c < cols.end; ++c) mask.set(r, c, true);
      }
    }
  }
  return mask;
}

}  // namespace tilesparse::detail

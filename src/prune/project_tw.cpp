#include <algorithm>
#include <cmath>
#include <numeric>

#include "src/prune/projectors.hpp"

namespace tilesparse::detail {

namespace {

// Indices 0..means.size()-1 from the first to prune to the last: forced ones first, then
// ascending mean, and among equal means the higher index first (ties keep the lower index).
std::vector<std::int64_t> prune_order(const std::vector<double>& means, const std::vector<char>& forced) {
  std::vector<std::int64_t> order(means.size());
  std::iota(order.begin(), order.end(), std::int64_t{0});
  std::sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
    if (forced[a] != forced[b]) return forced[a] != 0;
    return means[a] < means[b] || (means[a] == means[b] && a > b);
  });
  return order;
}

struct RowPhase {
  Mask mask;
  std::int64_t kept_after_forced = 0;  // kept elements once the forced rows of tiles are gone
};

// The row phase: the columns col_order[0, pruned_cols) go, the survivors (ascending) are
// cut into tiles of G, and rows of tiles are pruned under one global ranking: forced ones
// (holding an element `allowed` forbids) always, then by mean while each prune brings the
// kept count closer to target_kept, so the result is within half a row of a tile.
RowPhase prune_rows(const HostMatrix& scores, std::int64_t g, const std::vector<std::int64_t>& col_order,
                    std::int64_t pruned_cols, const Mask* allowed, std::int64_t target_kept) {
  const std::int64_t k = scores.rows(), n = scores.cols();
  std::vector<bool> col_kept(static_cast<std::size_t>(n), true);
  for (std::int64_t i = 0; i < pruned_cols; ++i) col_kept[col_order[i]] = false;
  std::vector<std::int64_t> survivors;
  for (std::int64_t c = 0; c < n; ++c)
    if (col_kept[c]) survivors.push_back(c);

  // Row unit u = r * tiles + t: the flat order makes G = 1 rank exactly like element pruning.
  const auto kept_cols = static_cast<std::int64_t>(survivors.size());
  const std::int64_t tiles = (kept_cols + g - 1) / g;
  const auto tile_cols = [&](std::int64_t t) { return std::min(g, kept_cols - t * g); };
  std::vector<double> unit_mean(static_cast<std::size_t>(k * tiles), 0.0);
  std::vector<char> unit_forced(unit_mean.size(), 0);
  for (std::int64_t r = 0; r < k; ++r)
    for (std::int64_t t = 0; t < tiles; ++t) {
      double sum = 0.0;
      bool forced = false;
      for (std::int64_t c = t * g; c < t * g + tile_cols(t); ++c) {
        sum += scores(r, survivors[c]);
        forced = forced || !may_keep(allowed, r, survivors[c]);
      }
      unit_mean[r * tiles + t] = sum / static_cast<double>(tile_cols(t));
      unit_forced[r * tiles + t] = forced;
    }
  RowPhase out{Mask(k, n, false), 0};
  std::vector<bool> unit_kept(unit_mean.size(), true);
  std::int64_t kept = k * kept_cols;
  for (std::int64_t u : prune_order(unit_mean, unit_forced)) {
    const std::int64_t size = tile_cols(u % tiles);
    if (!unit_forced[u] && 2 * (kept - target_kept) <= size) break;  // pruning u would not get closer
    unit_kept[u] = false;
    kept -= size;
  }
  out.kept_after_forced = k * kept_cols;
  for (std::size_t u = 0; u < unit_forced.size(); ++u)
    if (unit_forced[u]) out.kept_after_forced -= tile_cols(static_cast<std::int64_t>(u) % tiles);

  for (std::int64_t r = 0; r < k; ++r)
    for (std::int64_t t = 0; t < tiles; ++t)
      if (unit_kept[r * tiles + t])
        for (std::int64_t c = t * g; c < t * g + tile_cols(t); ++c) out.mask.set(r, survivors[c], true);
  return out;
}

}  // namespace

// Guo et al. (SC'20): prune whole columns globally by mean score, regroup the survivors
// (ascending) into tiles of G, then prune whole rows of tiles by mean score under one
// global ranking, so tiles keep different numbers of rows. The column share of the
// budget is spec.column_share * s, or the paper's even split s_c = 1 - sqrt(1 - s)
// (columns and rows each keep sqrt(1 - s)). Columns are rounded down so they never
// overshoot; rows of tiles are pruned in rank order while each prune brings the kept
// count closer to round((1 - s) K N), so the result is within half a row of a tile.
//
// With `allowed`, columns it forbids entirely go first. Pruning further columns
// regroups the survivors, so a new tile can straddle two old ones and must drop the rows
// either of them dropped; when that alone would overshoot the target, fewer new columns
// are pruned (halving their number; with none the old tiles stay as they were and the
// forced rows are exactly the old pruned ones, so the target is always met when the
// allowed mask is a TW mask for G of at most the target sparsity).
Mask project_tw(const HostMatrix& scores, const PatternSpec& spec, double sparsity, const Mask* allowed) {
  const std::int64_t k = scores.rows(), n = scores.cols(), g = spec.g;
  if (k == 0 || n == 0) return Mask(k, n, false);
  const std::int64_t total = k * n;
  const auto target_kept = std::clamp<std::int64_t>(std::llround((1.0 - sparsity) * static_cast<double>(total)), 0, total);

  const double column_sparsity = spec.column_share < 0 ? 1.0 - std::sqrt(1.0 - sparsity) : spec.column_share * sparsity;
  // The epsilon keeps an exact product such as 0.75 * 4 from flooring to 2.
  const auto budget_cols =
      std::clamp<std::int64_t>(static_cast<std::int64_t>(std::floor(column_sparsity * static_cast<double>(n) + 1e-9)), 0, n);
  std::vector<double> col_mean(static_cast<std::size_t>(n), 0.0);
  std::vector<char> col_forced(static_cast<std::size_t>(n), allowed ? 1 : 0);
  for (std::int64_t r = 0; r < k; ++r)
    for (std::int64_t c = 0; c < n; ++c) {
      col_mean[c] += scores(r, c);
      if (may_keep(allowed, r, c)) col_forced[c] = 0;
    }
  for (double& m : col_mean) m /= static_cast<double>(k);
  const std::vector<std::int64_t> col_order = prune_order(col_mean, col_forced);
  const auto forced_cols = static_cast<std::int64_t>(std::count(col_forced.begin(), col_forced.end(), 1));
  for (std::int64_t extra = std::max<std::int64_t>(0, budget_cols - forced_cols);; extra /= 2) {
    RowPhase phase = prune_rows(scores, g, col_order, forced_cols + extra, allowed, target_kept);
    if (extra == 0 || phase.kept_after_forced >= target_kept) return std::move(phase.mask);
  }
}

}  // namespace tilesparse::detail

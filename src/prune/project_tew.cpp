#include <algorithm>
#include <cmath>
#include <numeric>

#include "src/prune/projectors.hpp"

namespace tilesparse::detail {

// TW at s + delta (capped at 1), then the highest-scoring pruned elements come back as
// the residual until round((1 - s) K N) elements are kept: delta*K*N of them up to the
// TW rounding, fewer when s + delta was capped. Equal scores restore the lower flat index.
// Elements `allowed` forbids are neither in the TW part nor restored.
PatternMask project_tew(const HostMatrix& scores, const PatternSpec& spec, double sparsity, const Mask* allowed) {
  PatternMask pm;
  pm.mask = project_tw(scores, spec, std::min(1.0, sparsity + spec.delta), allowed);
  pm.residual = Mask(scores.rows(), scores.cols(), false);
  const std::int64_t total = scores.size();
  const auto target_kept = std::clamp<std::int64_t>(std::llround((1.0 - sparsity) * static_cast<double>(total)), 0, total);
  const std::int64_t restore = std::max<std::int64_t>(0, target_kept - pm.mask.kept());
  std::vector<std::int64_t> pruned;
  for (std::int64_t i = 0; i < total; ++i)
    if (!pm.mask.keep[i] && (!allowed || allowed->keep[i])) pruned.push_back(i);
  const auto count = std::min<std::int64_t>(restore, static_cast<std::int64_t>(pruned.size()));
  auto v = scores.values();
  std::nth_element(pruned.begin(), pruned.begin() + count, pruned.end(),
                   [&](std::int64_t a, std::int64_t b) { return v[a] > v[b] || (v[a] == v[b] && a < b); });
  for (std::int64_t i = 0; i < count; ++i) pm.residual.keep[pruned[i]] = 1;
  return pm;
}

}  // namespace tilesparse::detail

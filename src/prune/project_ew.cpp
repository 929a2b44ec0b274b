#include <algorithm>
#include <cmath>
#include <numeric>

#include "src/prune/projectors.hpp"

namespace tilesparse::detail {

// Global top-k: keeps round((1 - s) * K * N) elements (at most the allowed ones); among
// equal scores the lower flat (row-major) index is kept, so the result does not depend
// on the sort's internals.
Mask project_ew(const HostMatrix& scores, double sparsity, const Mask* allowed) {
  const std::int64_t total = scores.size();
  auto v = scores.values();
  std::vector<std::int64_t> order;
  order.reserve(static_cast<std::size_t>(total));
  for (std::int64_t i = 0; i < total; ++i)
    if (!allowed || allowed->keep[i]) order.push_back(i);
  const auto keep = std::clamp<std::int64_t>(std::llround((1.0 - sparsity) * static_cast<double>(total)), 0,
                                             static_cast<std::int64_t>(order.size()));
  std::nth_element(order.begin(), order.begin() + keep, order.end(),
                   [&](std::int64_t a, std::int64_t b) { return v[a] > v[b] || (v[a] == v[b] && a < b); });
  Mask mask(scores.rows(), scores.cols(), false);
  for (std::int64_t i = 0; i < keep; ++i) mask.keep[order[i]] = 1;
  return mask;
}

}  // namespace tilesparse::detail

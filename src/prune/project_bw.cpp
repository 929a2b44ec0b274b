#include <algorithm>
#include <numeric>

#include "src/prune/projectors.hpp"

namespace tilesparse::detail {

// Blocks are ranked by their mean score over in-matrix elements, so a small edge block
// competes with full blocks on equal terms. The lowest blocks are pruned in order while
// each prune brings the pruned element count closer to s*K*N (or as close), so the
// achieved sparsity lands within half a block of the target. Equal scores prune the
// higher block index first (ties keep the lower index). Blocks holding an element that
// `allowed` forbids come first and are pruned whatever the target.
Mask project_bw(const HostMatrix& scores, const PatternSpec& spec, double sparsity, const Mask* allowed) {
  const std::int64_t k = scores.rows(), n = scores.cols(), bk = spec.bk, bn = spec.bn;
  const std::int64_t kblocks = (k + bk - 1) / bk, nblocks = (n + bn - 1) / bn;
  struct Block {
    std::int64_t k0, n0, rows, cols;
    double mean;
    bool forced;
  };
  std::vector<Block> blocks;
  blocks.reserve(static_cast<std::size_t>(kblocks * nblocks));
  for (std::int64_t k0 = 0; k0 < k; k0 += bk) {
    for (std::int64_t n0 = 0; n0 < n; n0 += bn) {
      const std::int64_t rows = std::min(bk, k - k0), cols = std::min(bn, n - n0);
      double sum = 0.0;
      bool forced = false;
      for (std::int64_t r = k0; r < k0 + rows; ++r)
        for (std::int64_t c = n0; c < n0 + cols; ++c) {
          sum += scores(r, c);
          forced = forced || !may_keep(allowed, r, c);
        }
      blocks.push_back({k0, n0, rows, cols, sum / static_cast<double>(rows * cols), forced});
    }
  }
  std::vector<std::size_t> order(blocks.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (blocks[a].forced != blocks[b].forced) return blocks[a].forced;
    return blocks[a].mean < blocks[b].mean || (blocks[a].mean == blocks[b].mean && a > b);
  });
  const double target = sparsity * static_cast<double>(k) * static_cast<double>(n);
  Mask mask(k, n, true);
  double pruned = 0.0;
  for (std::size_t i : order) {
    const Block& b = blocks[i];
    const double size = static_cast<double>(b.rows * b.cols);
    if (!b.forced && pruned + size / 2 > target) break;
    pruned += size;
    for (std::int64_t r = b.k0; r < b.k0 + b.rows; ++r)
      for (std::int64_t c = b.n0; c < b.n0 + b.cols; ++c) mask.set(r, c, false);
  }
  return mask;
}

}  // namespace tilesparse::detail

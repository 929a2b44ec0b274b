#pragma once
// Apriori tuning of TW (Guo et al., SC'20, Algorithm 2): element-wise pruning at the same
// sparsity is the best case for accuracy, so its mask says which structures matter. A
// column or a row of a tile that EW prunes almost completely is pruned first whatever
// its mean score (a few large elements can lift a mean while the rest is noise); one
// that EW keeps almost entirely is protected, pruned only after every other unit (many
// moderate elements can have a low mean yet all survive EW).
//
// The EW mask is computed on the scores at the target sparsity; units are ranked by the
// share of their elements EW keeps. Columns are handled first (which fixes the tiles),
// then rows of the resulting tiles. The priorities are forced through project(...,
// allowed) and a score boost: prioritised units are pruned even past the target (the
// caller asked for them), protected units' elements rank above all others in both the
// column and the row phase.
#include <cstdint>

#include "tilesparse/core/matrix.hpp"
#include "tilesparse/formats/weight.hpp"

namespace tilesparse {

struct AprioriOptions {
  std::int64_t prune_columns = 0;    // top-n: columns with the lowest EW-kept share, pruned first
  std::int64_t protect_columns = 0;  // last-n: columns with the highest EW-kept share, pruned last
  std::int64_t prune_rows = 0;       // top-n rows of tiles with the lowest EW-kept share
  std::int64_t protect_rows = 0;     // last-n rows of tiles with the highest EW-kept share
};

// Share of the elements of each column (size N) that `ew` keeps; 0 for K = 0.
std::vector<double> kept_share_per_column(const Mask& ew);

// TW or TEW (spec.pattern) at `sparsity`, with the EW-informed priorities. scores and
// allowed as for project() (allowed: only those elements may be kept, so a staged
// schedule's masks only shrink; the EW reference is taken inside it too). Errors:
// another pattern, negative counts, the counts of a kind overlapping (prune + protect >
// N columns).
PatternMask apriori_tw(const HostMatrix& scores, const PatternSpec& spec, double sparsity,
                       const AprioriOptions& options, const Mask* allowed = nullptr);

}  // namespace tilesparse

#include "tilesparse/prune/apriori.hpp"

#include <algorithm>
#include <numeric>
#include <string>

#include "src/prune/score_checks.hpp"
#include "tilesparse/core/error.hpp"
#include "tilesparse/prune/project.hpp"

namespace tilesparse {
namespace {

constexpr const char* kOp = "apriori tw";

// Unit indices by ascending EW-kept share (ties: lower index first, so results are
// deterministic); the first `prune` are prioritised, the last `protect` protected.
struct Picks {
  std::vector<std::size_t> prune, protect;
};

Picks pick(const std::vector<double>& share, std::int64_t prune, std::int64_t protect) {
  std::vector<std::size_t> order(share.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return share[a] < share[b]; });
  const auto p = static_cast<std::size_t>(std::min<std::int64_t>(prune, static_cast<std::int64_t>(order.size())));
  const auto q = static_cast<std::size_t>(std::min<std::int64_t>(protect, static_cast<std::int64_t>(order.size() - p)));
  return {{order.begin(), order.begin() + p}, {order.end() - q, order.end()}};
}

// A row of a tile of a TW mask: row r over the tile's kept columns.
struct RowUnit {
  std::int64_t row;
  std::vector<std::int64_t> cols;
};

// The rows of the tiles of `mask`'s kept columns (ascending, cut into tiles of g).
std::vector<RowUnit> row_units(const Mask& mask, std::int64_t g) {
  const std::vector<std::int64_t> kept_cols = mask.kept_columns();
  std::vector<RowUnit> units;
  for (std::size_t t = 0; t < kept_cols.size(); t += static_cast<std::size_t>(g)) {
    const std::vector<std::int64_t> cols(kept_cols.begin() + static_cast<std::ptrdiff_t>(t),
                                         kept_cols.begin() + static_cast<std::ptrdiff_t>(
                                                                 std::min(kept_cols.size(), t + static_cast<std::size_t>(g))));
    for (std::int64_t r = 0; r < mask.rows; ++r) units.push_back({r, cols});
  }
  return units;
}

}  // namespace

std::vector<double> kept_share_per_column(const Mask& ew) {
  std::vector<double> share(static_cast<std::size_t>(ew.cols), 0.0);
  if (ew.rows == 0) return share;
  for (std::int64_t r = 0; r < ew.rows; ++r)
    for (std::int64_t c = 0; c < ew.cols; ++c) share[c] += ew(r, c);
  for (double& s : share) s /= static_cast<double>(ew.rows);
  return share;
}

PatternMask apriori_tw(const HostMatrix& scores, const PatternSpec& spec, double sparsity,
                       const AprioriOptions& options, const Mask* allowed_in) {
  require(spec.pattern == Pattern::tw || spec.pattern == Pattern::tew, kOp,
          "apriori tuning is for tw and tew, not " + spec.describe());
  require(options.prune_columns >= 0 && options.protect_columns >= 0 && options.prune_rows >= 0 &&
              options.protect_rows >= 0,
          kOp, "the top-n/last-n counts must be >= 0");
  require(options.prune_columns + options.protect_columns <= scores.cols(), kOp,
          std::to_string(options.prune_columns) + " prioritised + " + std::to_string(options.protect_columns) +
              " protected columns exceed the " + std::to_string(scores.cols()) + " columns");
  detail::require_valid_scores(scores, kOp);
  PatternSpec ew;
  ew.pattern = Pattern::ew;
  const Mask ew_mask = allowed_in ? project(scores, ew, sparsity, *allowed_in).mask : project(scores, ew, sparsity).mask;

  // Protected elements get a boost above every plain score, so their units' means top
  // every unprotected unit; prioritised ones are forbidden, so they go first.
  float top = 0;
  for (float v : scores.values()) top = std::max(top, v);
  const float boost = top + 1.0f;
  HostMatrix boosted(scores.rows(), scores.cols(), DType::f32, {scores.values().begin(), scores.values().end()});
  auto protect = [&](std::int64_t r, std::int64_t c) { boosted.set(r, c, boosted(r, c) + boost); };
  Mask allowed = allowed_in ? *allowed_in : Mask(scores.rows(), scores.cols(), true);

  const Picks cols = pick(kept_share_per_column(ew_mask), options.prune_columns, options.protect_columns);
  for (std::size_t c : cols.prune)
    for (std::int64_t r = 0; r < scores.rows(); ++r) allowed.set(r, static_cast<std::int64_t>(c), false);
  for (std::size_t c : cols.protect)
    for (std::int64_t r = 0; r < scores.rows(); ++r) protect(r, static_cast<std::int64_t>(c));
  if (options.prune_rows == 0 && options.protect_rows == 0) return project(boosted, spec, sparsity, allowed);

  // The column phase fixes the tiles; rank their rows by EW-kept share and project again
  // (the column choice does not move: row priorities only raise kept columns' means or
  // forbid elements of kept columns).
  const std::vector<RowUnit> units = row_units(project(boosted, spec, sparsity, allowed).mask, spec.g);
  std::vector<double> share(units.size(), 0.0);
  for (std::size_t u = 0; u < units.size(); ++u) {
    for (std::int64_t c : units[u].cols) share[u] += ew_mask(units[u].row, c);
    share[u] /= static_cast<double>(units[u].cols.size());
  }
  const Picks rows = pick(share, options.prune_rows, options.protect_rows);
  for (std::size_t u : rows.prune)
    for (std::int64_t c : units[u].cols) allowed.set(units[u].row, c, false);
  for (std::size_t u : rows.protect)
    for (std::int64_t c : units[u].cols) protect(units[u].row, c);
  return project(boosted, spec, sparsity, allowed);
}

}  // namespace tilesparse

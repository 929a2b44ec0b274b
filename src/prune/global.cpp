#include "tilesparse/prune/global.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "src/prune/score_checks.hpp"
#include "tilesparse/core/error.hpp"
#include "tilesparse/prune/project.hpp"
#include "tilesparse/prune/scores.hpp"

namespace tilesparse {
namespace {

constexpr const char* kOp = "global ranking";

bool ranked(const GlobalLayer& l) {
  const Pattern p = l.spec.pattern;
  return !l.exclude && (p == Pattern::ew || p == Pattern::bw || p == Pattern::tw || p == Pattern::tew);
}

// A ranked layer's units, ascending by mean score, with the running count of elements
// they hold, so "elements below a threshold" is one binary search.
struct RankedLayer {
  std::vector<float> score;           // ascending
  std::vector<std::int64_t> covered;  // covered[i] = elements in units 0..i-1 (size units+1)
  std::int64_t size = 0;
  std::int64_t forced = 0;  // elements the allowed mask forbids
  double floor = 0, ceiling = 1;

  // Sparsity when every unit with mean score < t (or <= t) is pruned, clamped; never
  // below the forbidden share, which no ceiling can bring back.
  double sparsity_at(float t, bool inclusive) const {
    const auto it = inclusive ? std::upper_bound(score.begin(), score.end(), t)
                              : std::lower_bound(score.begin(), score.end(), t);
    if (size == 0) return 0.0;
    const double s = double(covered[it - score.begin()]) / double(size);
    return std::max(std::clamp(s, floor, ceiling), double(forced) / double(size));
  }
};

RankedLayer rank_units(const GlobalLayer& l) {
  const PatternSpec& sp = l.spec;
  const std::int64_t ur = sp.pattern == Pattern::bw ? sp.bk : 1;
  const std::int64_t uc = sp.pattern == Pattern::bw ? sp.bn : sp.pattern == Pattern::ew ? 1 : sp.g;
  const HostMatrix means = unit_scores(l.scores, ur, uc);
  RankedLayer r;
  r.size = l.scores.size();
  r.floor = l.floor;
  r.ceiling = l.ceiling;
  std::vector<std::pair<float, std::int64_t>> units;  // (mean, elements)
  for (std::int64_t i = 0; i < means.rows(); ++i)
    for (std::int64_t j = 0; j < means.cols(); ++j) {
      const std::int64_t rows = std::min(ur, l.scores.rows() - i * ur), cols = std::min(uc, l.scores.cols() - j * uc);
      if (l.allowed.keep.empty()) {
        units.emplace_back(means(i, j), rows * cols);
        continue;
      }
      // Forbidden elements stay pruned whatever the threshold: they count as a unit of
      // their own below every score (scores are >= 0), and towards the layer's floor; the
      // rest of the unit ranks by its own mean.
      std::int64_t forbidden = 0;
      double sum = 0;
      for (std::int64_t row = i * ur; row < i * ur + rows; ++row)
        for (std::int64_t col = j * uc; col < j * uc + cols; ++col) {
          if (l.allowed(row, col)) sum += l.scores(row, col);
          else ++forbidden;
        }
      if (forbidden > 0) units.emplace_back(-1.0f, forbidden);
      if (forbidden < rows * cols) units.emplace_back(static_cast<float>(sum / double(rows * cols - forbidden)), rows * cols - forbidden);
      r.forced += forbidden;
    }
  std::sort(units.begin(), units.end());
  r.covered.push_back(0);
  for (const auto& [s, n] : units) {
    r.score.push_back(s);
    r.covered.push_back(r.covered.back() + n);
  }
  return r;
}

}  // namespace

std::vector<double> global_layer_sparsities(const std::vector<GlobalLayer>& layers, double sparsity) {
  require(std::isfinite(sparsity) && sparsity >= 0 && sparsity <= 1, kOp,
          "sparsity " + std::to_string(sparsity) + " is outside [0, 1]");
  std::vector<double> out(layers.size(), 0.0);
  std::vector<RankedLayer> ranks(layers.size());
  std::vector<float> thresholds;
  double total = 0, lowest = 0, highest = 0;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const GlobalLayer& l = layers[i];
    const std::string what = std::string(kOp) + ": layer '" + l.name + "'";
    l.spec.check();
    require(l.floor >= 0 && l.floor <= l.ceiling && l.ceiling <= 1, what,
            "needs 0 <= floor <= ceiling <= 1, got floor " + std::to_string(l.floor) + " ceiling " +
                std::to_string(l.ceiling));
    detail::require_valid_scores(l.scores, what);
    require((l.allowed.rows == 0 && l.allowed.cols == 0 && l.allowed.keep.empty()) ||
                (l.allowed.rows == l.scores.rows() && l.allowed.cols == l.scores.cols() &&
                 l.allowed.keep.size() == static_cast<std::size_t>(l.scores.size())),
            what,
            "the allowed mask is " + shape_str({l.allowed.rows, l.allowed.cols}) + ", the scores are " +
                shape_str({l.scores.rows(), l.scores.cols()}));
    if (l.exclude) continue;
    if (l.spec.pattern == Pattern::nm || l.spec.pattern == Pattern::sp24) {
      const int keep = l.spec.pattern == Pattern::sp24 ? 2 : l.spec.keep;
      const int group = l.spec.pattern == Pattern::sp24 ? 4 : l.spec.group;
      out[i] = 1.0 - double(keep) / group;
    }
    if (!ranked(l)) continue;
    ranks[i] = rank_units(l);
    thresholds.insert(thresholds.end(), ranks[i].score.begin(), ranks[i].score.end());
    total += double(ranks[i].size);
    lowest += l.floor * double(ranks[i].size);
    highest += l.ceiling * double(ranks[i].size);
  }
  if (total == 0) return out;
  const double target = sparsity * total;
  require(target >= lowest - 1e-9 * total && target <= highest + 1e-9 * total, kOp,
          "the layers' floors/ceilings allow a sparsity between " + std::to_string(lowest / total) + " and " +
              std::to_string(highest / total) + ", not " + std::to_string(sparsity));
  auto pruned = [&](float t, bool inclusive) {
    double s = 0;
    for (std::size_t i = 0; i < layers.size(); ++i)
      if (ranked(layers[i])) s += ranks[i].sparsity_at(t, inclusive) * double(ranks[i].size);
    return s;
  };
  // The first threshold whose inclusive cut reaches the target.
  std::sort(thresholds.begin(), thresholds.end());
  thresholds.erase(std::unique(thresholds.begin(), thresholds.end()), thresholds.end());
  const auto it = std::partition_point(thresholds.begin(), thresholds.end(),
                                       [&](float t) { return pruned(t, true) < target - 1e-9 * total; });
  const float t = it == thresholds.end() ? thresholds.back() : *it;
  // Units tied at t are cut in layer order until the target is met, so the total lands
  // within a unit of it and the result is deterministic.
  double remaining = target - pruned(t, false);
  for (std::size_t i = 0; i < layers.size(); ++i) {
    if (!ranked(layers[i])) continue;
    const double below = ranks[i].sparsity_at(t, false), upto = ranks[i].sparsity_at(t, true);
    const double take = std::clamp(remaining / double(ranks[i].size), 0.0, upto - below);
    out[i] = below + take;
    remaining -= take * double(ranks[i].size);
  }
  return out;
}

std::vector<GlobalLayerResult> global_prune(const std::vector<GlobalLayer>& layers, double sparsity) {
  const auto targets = global_layer_sparsities(layers, sparsity);
  std::vector<GlobalLayerResult> out;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const GlobalLayer& l = layers[i];
    GlobalLayerResult r{l.name, targets[i], 0.0, {}};
    const Pattern p = l.spec.pattern;
    const Mask all_allowed = l.allowed.keep.empty() ? Mask(l.scores.rows(), l.scores.cols(), true) : l.allowed;
    if (l.exclude || p == Pattern::dense) {
      r.mask = {Mask(l.scores.rows(), l.scores.cols(), true), {}};
    } else if (p == Pattern::nm || p == Pattern::sp24) {
      r.mask = project(l.scores, l.spec, std::nullopt, all_allowed);
    } else {
      r.mask = project(l.scores, l.spec, targets[i], all_allowed);
    }
    const Mask all = r.mask.combined();
    r.achieved = all.sparsity();
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace tilesparse

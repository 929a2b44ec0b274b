#pragma once
// One-shot projectors: importance scores (|w| for magnitude pruning) and a target
// sparsity -> a mask that obeys the pattern. A requested sparsity is met to within one
// pruning unit; ties break towards the lower index so results are deterministic.
#include <optional>

#include "tilesparse/core/matrix.hpp"
#include "tilesparse/formats/weight.hpp"

namespace tilesparse {

// Elementwise |w| (as a f32 matrix).
HostMatrix magnitude_scores(const HostMatrix& w);

// scores: K x N, finite and >= 0 (Error otherwise). sparsity in [0, 1]. For nm and 24
// the pattern fixes the sparsity (1 - keep/group): pass nullopt, or that same value;
// for dense pass nullopt or 0. Every other pattern needs a sparsity.
PatternMask project(const HostMatrix& scores, const PatternSpec& spec, std::optional<double> sparsity);

// As above, but elements that `allowed` (K x N) marks false stay pruned: a unit holding
// one is pruned whatever its score, before any other unit, so the budget is spent on
// them first. With allowed = the previous mask this makes masks only shrink (multi-stage
// schedules, prune/schedule.hpp). The result is sparser than requested when `allowed`
// already is; for tw, pruning new columns regroups tiles, and fewer new columns are pruned
// when that would overshoot (src/prune/project_tw.cpp). Dense needs an all-true mask.
PatternMask project(const HostMatrix& scores, const PatternSpec& spec, std::optional<double> sparsity,
                    const Mask& allowed);

// project(magnitude_scores(w), ...) and make_weight: the usual way to make a test weight.
Weight prune_magnitude(const HostMatrix& w, const PatternSpec& spec, std::optional<double> sparsity);

}  // namespace tilesparse

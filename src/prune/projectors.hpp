#pragma once
// One projector per pattern (private to the library); project() checks the arguments
// (shape, finite non-negative scores, sparsity range) and calls one of these.
//
// `allowed` (nullptr = every element) marks the elements that may be kept: a unit that
// holds an element it marks false is pruned whatever its score, and such units are
// pruned before any other, so the budget is spent on them first. That is how a
// multi-stage schedule keeps masks shrinking (prune/schedule.hpp).
#include "tilesparse/core/matrix.hpp"
#include "tilesparse/formats/weight.hpp"

namespace tilesparse::detail {

Mask project_ew(const HostMatrix& scores, double sparsity, const Mask* allowed = nullptr);
Mask project_bw(const HostMatrix& scores, const PatternSpec& spec, double sparsity, const Mask* allowed = nullptr);
// Also 24 (spec 2:4 element).
Mask project_nm(const HostMatrix& scores, const PatternSpec& spec, const Mask* allowed = nullptr);
Mask project_tw(const HostMatrix& scores, const PatternSpec& spec, double sparsity, const Mask* allowed = nullptr);
PatternMask project_tew(const HostMatrix& scores, const PatternSpec& spec, double sparsity,
                        const Mask* allowed = nullptr);

// Whether `allowed` lets element (r, c) be kept.
inline bool may_keep(const Mask* allowed, std::int64_t r, std::int64_t c) { return !allowed || (*allowed)(r, c); }

}  // namespace tilesparse::detail

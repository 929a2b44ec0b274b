#pragma once
// One projector per pattern (private to the library); project() checks the arguments
// (shape, finite non-negative scores, sparsity range) and calls one of these.
#include "tilesparse/core/matrix.hpp"
#include "tilesparse/formats/weight.hpp"

namespace tilesparse::detail {

Mask project_ew(const HostMatrix& scores, double sparsity);
Mask project_bw(const HostMatrix& scores, const PatternSpec& spec, double sparsity);
Mask project_nm(const HostMatrix& scores, const PatternSpec& spec);  // also 24 (spec 2:4 element)
Mask project_tw(const HostMatrix& scores, const PatternSpec& spec, double sparsity);
PatternMask project_tew(const HostMatrix& scores, const PatternSpec& spec, double sparsity);

}  // namespace tilesparse::detail

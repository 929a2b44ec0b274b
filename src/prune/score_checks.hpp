#pragma once
// Argument checks shared by the pruning modules (private to the library).
#include <string>

#include "tilesparse/core/matrix.hpp"

namespace tilesparse::detail {

// Throws Error(what, ...) naming the first element that is NaN/Inf (or negative, when
// non_negative): scores drive every keep/prune decision, so one bad value would silently
// decide a whole group.
void require_valid_scores(const HostMatrix& scores, const std::string& what, bool non_negative = true);

}  // namespace tilesparse::detail

#include "src/prune/score_checks.hpp"

#include <cmath>

#include "tilesparse/core/error.hpp"

namespace tilesparse::detail {

void require_valid_scores(const HostMatrix& scores, const std::string& what, bool non_negative) {
  const auto v = scores.values();
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (std::isfinite(v[i]) && (!non_negative || v[i] >= 0)) continue;
    const auto cols = static_cast<std::size_t>(scores.cols());
    throw Error(what,
                "value at (" + std::to_string(i / cols) + ", " + std::to_string(i % cols) + ") is " +
                    std::to_string(v[i]) + (non_negative ? ": scores must be finite and >= 0" : ": must be finite") +
                    " (NaN/Inf in the weight or scores?)",
                shape_str({scores.rows(), scores.cols()}));
  }
}

}  // namespace tilesparse::detail

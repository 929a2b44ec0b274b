#include "tilesparse/prune/project.hpp"

#include <cmath>
#include <string>

#include "src/prune/projectors.hpp"
#include "src/prune/score_checks.hpp"
#include "tilesparse/core/error.hpp"

namespace tilesparse {

HostMatrix magnitude_scores(const HostMatrix& w) {
  HostMatrix s(w.rows(), w.cols(), DType::f32);
  auto in = w.values();
  auto out = s.mutable_values();
  for (std::size_t i = 0; i < in.size(); ++i) out[i] = std::fabs(in[i]);
  return s;
}

namespace {

PatternMask project_impl(const HostMatrix& scores, const PatternSpec& spec, std::optional<double> sparsity,
                         const Mask* allowed) {
  spec.check();
  const std::string what = "project " + spec.describe();
  if (allowed) {
    require(allowed->rows == scores.rows() && allowed->cols == scores.cols() &&
                allowed->keep.size() == static_cast<std::size_t>(scores.size()),
            what, "the allowed mask is " + shape_str({allowed->rows, allowed->cols}) + ", the scores are " +
                      shape_str({scores.rows(), scores.cols()}));
  }
  detail::require_valid_scores(scores, what);
  if (sparsity) {
    require(*sparsity >= 0.0 && *sparsity <= 1.0 && std::isfinite(*sparsity), what,
            "sparsity " + std::to_string(*sparsity) + " is outside [0, 1]");
  }
  const Pattern p = spec.pattern;
  if (p == Pattern::nm || p == Pattern::sp24) {
    const int keep = p == Pattern::sp24 ? 2 : spec.keep;
    const int group = p == Pattern::sp24 ? 4 : spec.group;
    const double fixed = 1.0 - static_cast<double>(keep) / group;
    require(!sparsity || std::fabs(*sparsity - fixed) < 1e-9, what,
            "N:M fixes the sparsity at " + std::to_string(fixed) + "; requested " +
                std::to_string(sparsity.value_or(0.0)) + " (leave the sparsity out)");
    PatternSpec s = spec;
    if (p == Pattern::sp24) {
      s.keep = 2;
      s.group = 4;
      s.unit = NmUnit::element;
    }
    return {detail::project_nm(scores, s, allowed), {}};
  }
  if (p == Pattern::dense) {
    require(!sparsity || *sparsity == 0.0, what, "a dense weight has sparsity 0");
    require(!allowed || allowed->kept() == allowed->rows * allowed->cols, what,
            "a dense weight keeps every element, but the allowed mask forbids some");
    return {Mask(scores.rows(), scores.cols(), true), {}};
  }
  require(sparsity.has_value(), what, "a target sparsity is required for this pattern");
  switch (p) {
    case Pattern::ew: return {detail::project_ew(scores, *sparsity, allowed), {}};
    case Pattern::bw: return {detail::project_bw(scores, spec, *sparsity, allowed), {}};
    case Pattern::tw: return {detail::project_tw(scores, spec, *sparsity, allowed), {}};
    case Pattern::tew: return detail::project_tew(scores, spec, *sparsity, allowed);
    default: break;
  }
  throw Error(what, "unknown pattern");
}

}  // namespace

PatternMask project(const HostMatrix& scores, const PatternSpec& spec, std::optional<double> sparsity) {
  return project_impl(scores, spec, sparsity, nullptr);
}

PatternMask project(const HostMatrix& scores, const PatternSpec& spec, std::optional<double> sparsity,
                    const Mask& allowed) {
  return project_impl(scores, spec, sparsity, &allowed);
}

Weight prune_magnitude(const HostMatrix& w, const PatternSpec& spec, std::optional<double> sparsity) {
  detail::require_valid_scores(w, "prune " + spec.describe() + ": weight", /*non_negative=*/false);
  return make_weight(w, project(magnitude_scores(w), spec, sparsity), spec);
}

}  // namespace tilesparse

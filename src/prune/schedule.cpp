#include "tilesparse/prune/schedule.hpp"

#include <cmath>
#include <optional>
#include <string>

#include "tilesparse/core/error.hpp"
#include "tilesparse/prune/global.hpp"
#include "tilesparse/prune/project.hpp"

namespace tilesparse {
namespace {

constexpr const char* kOp = "schedule";

void check_targets(std::span<const double> targets) {
  for (std::size_t i = 0; i < targets.size(); ++i) {
    require(std::isfinite(targets[i]) && targets[i] >= 0 && targets[i] <= 1, kOp,
            "stage " + std::to_string(i) + " target " + std::to_string(targets[i]) + " is outside [0, 1]");
    require(i == 0 || targets[i] >= targets[i - 1], kOp,
            "stage " + std::to_string(i) + " target " + std::to_string(targets[i]) + " is below stage " +
                std::to_string(i - 1) + "'s " + std::to_string(targets[i - 1]) + ": masks only shrink");
  }
}

// The pattern fixes the sparsity of nm/24/dense layers, and excluded layers stay dense.
std::optional<double> layer_target(const ScheduleLayer& l, double target) {
  const Pattern p = l.spec.pattern;
  if (l.exclude || p == Pattern::dense || p == Pattern::nm || p == Pattern::sp24) return std::nullopt;
  return target;
}

Mask allowed_of(const ScheduleLayer& l) {
  return l.mask.mask.keep.empty() ? Mask(l.weight.rows(), l.weight.cols(), true) : l.mask.combined();
}

void zero_pruned(ScheduleLayer& l) { l.weight = apply_mask(l.weight, l.mask.combined()); }

}  // namespace

std::vector<double> step_schedule(std::span<const double> steps) {
  check_targets(steps);
  return {steps.begin(), steps.end()};
}

std::vector<double> polynomial_schedule(double initial_sparsity, double final_sparsity, int stages) {
  require(stages >= 1, kOp, "a polynomial schedule needs at least one stage, got " + std::to_string(stages));
  require(std::isfinite(initial_sparsity) && std::isfinite(final_sparsity) && 0 <= initial_sparsity &&
              initial_sparsity <= final_sparsity && final_sparsity <= 1,
          kOp,
          "needs 0 <= initial <= final <= 1, got initial " + std::to_string(initial_sparsity) + " final " +
              std::to_string(final_sparsity));
  std::vector<double> out;
  for (int t = 1; t <= stages; ++t) {
    const double rest = 1.0 - static_cast<double>(t) / stages;
    out.push_back(final_sparsity + (initial_sparsity - final_sparsity) * rest * rest * rest);
  }
  return out;
}

std::vector<StageResult> run_schedule(std::vector<ScheduleLayer>& layers, std::span<const double> targets,
                                      const ScheduleOptions& options) {
  check_targets(targets);
  auto scores_of = [&](const ScheduleLayer& l) {
    return options.scores ? options.scores(l) : magnitude_scores(l.weight);
  };
  std::vector<StageResult> results;
  for (std::size_t s = 0; s < targets.size(); ++s) {
    StageResult r{static_cast<int>(s), targets[s], {}, {}};
    if (options.global) {
      require(!options.projector, kOp, "a custom projector works per layer, not with global ranking");
      std::vector<GlobalLayer> global;
      for (const ScheduleLayer& l : layers)
        global.push_back({l.name, scores_of(l), l.spec, l.floor, l.ceiling, l.exclude, allowed_of(l)});
      auto projected = global_prune(global, targets[s]);
      for (std::size_t i = 0; i < layers.size(); ++i) {
        r.layer_targets.push_back(projected[i].target);
        layers[i].mask = std::move(projected[i].mask);
      }
    } else {
      for (ScheduleLayer& l : layers) {
        const auto target = layer_target(l, targets[s]);
        const Mask allowed = allowed_of(l);
        l.mask = l.exclude ? PatternMask{Mask(l.weight.rows(), l.weight.cols(), true), {}}
                           : options.projector ? options.projector(scores_of(l), l.spec, target, allowed)
                                               : project(scores_of(l), l.spec, target, allowed);
        r.layer_targets.push_back(target.value_or(l.mask.combined().sparsity()));
      }
    }
    for (ScheduleLayer& l : layers) {
      zero_pruned(l);
      r.layer_sparsity.push_back(l.mask.combined().sparsity());
    }
    if (options.after_stage) {
      std::vector<PatternMask> masks;
      for (const ScheduleLayer& l : layers) masks.push_back(l.mask);
      options.after_stage(r, layers);
      for (std::size_t i = 0; i < layers.size(); ++i) {
        ScheduleLayer& l = layers[i];
        require(l.weight.rows() == l.mask.mask.rows && l.weight.cols() == l.mask.mask.cols &&
                    l.mask.mask == masks[i].mask && l.mask.residual == masks[i].residual,
                kOp,
                "the stage " + std::to_string(s) + " callback changed layer '" + l.name +
                    "''s mask or shape: it may only update weights");
        zero_pruned(l);
      }
    }
    results.push_back(std::move(r));
  }
  return results;
}

}  // namespace tilesparse

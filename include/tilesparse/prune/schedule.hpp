#pragma once
// Multi-stage (gradual) pruning: the sparsity rises over several stages with fine-tuning
// in between (a step list such as 25/35/50/60/70/75 %, or Zhu & Gupta's polynomial
// schedule), instead of one shot. Each stage scores the current weights, projects every
// layer (one by one, or under one global ranking) with the previous mask as the allowed
// set, so masks only shrink: an element pruned at one stage stays pruned at every later
// one (project(..., allowed) in prune/project.hpp says how each pattern enforces it).
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "tilesparse/core/matrix.hpp"
#include "tilesparse/formats/weight.hpp"

namespace tilesparse {

// A step list as stage targets: each in [0, 1], non-decreasing (masks cannot grow back).
std::vector<double> step_schedule(std::span<const double> steps);

// Zhu & Gupta (2017): s_t = s_f + (s_i - s_f) (1 - t/n)^3 for t = 1..n, so the last stage
// reaches `final_sparsity` and the steps shrink as the network has fewer weights left to
// lose. `initial_sparsity` is the sparsity at t = 0 (before the first stage); needs n >= 1
// and 0 <= s_i <= s_f <= 1.
std::vector<double> polynomial_schedule(double initial_sparsity, double final_sparsity, int stages);

struct ScheduleLayer {
  std::string name;
  HostMatrix weight;  // K x N; pruned elements are zeroed after each stage
  PatternSpec spec;
  // Global ranking only (prune/global.hpp): bounds on this layer's sparsity, or dense.
  double floor = 0.0;
  double ceiling = 1.0;
  bool exclude = false;
  // The current mask; 0 x 0 before the first stage (everything kept).
  PatternMask mask;
};

// What one stage did.
struct StageResult {
  int stage = 0;
  double target = 0;                  // the stage's sparsity (model-wide when global)
  std::vector<double> layer_targets;  // per layer, as projected
  std::vector<double> layer_sparsity; // per layer, achieved (mask | residual)
};

struct ScheduleOptions {
  // One threshold over all layers (global_prune) instead of every layer at the target.
  bool global = false;
  // Importance of a layer's current weight; empty = magnitude |w|.
  std::function<HostMatrix(const ScheduleLayer&)> scores;
  // Per-layer mode only: the projector (scores, spec, target, allowed); empty = project().
  // E.g. apriori_tw for TW with EW-informed priorities.
  std::function<PatternMask(const HostMatrix&, const PatternSpec&, std::optional<double>, const Mask&)> projector;
  // Called after every stage with the new masks in place and pruned weights zeroed, e.g.
  // to fine-tune. It may change weights (pruned elements are zeroed again afterwards, so
  // the masks stay the truth); masks and shapes must stay as they are.
  std::function<void(const StageResult&, std::vector<ScheduleLayer>&)> after_stage;
};

// Runs the stages in order on `layers` (updated in place) and returns what each did.
// Errors: targets outside [0, 1] or decreasing, a layer's shape or mask changed by the
// callback, and anything project()/global_prune() rejects (NaN/Inf weights or scores).
std::vector<StageResult> run_schedule(std::vector<ScheduleLayer>& layers, std::span<const double> targets,
                                      const ScheduleOptions& options = {});

}  // namespace tilesparse

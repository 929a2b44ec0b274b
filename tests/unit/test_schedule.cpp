// Multi-stage schedules: step/polynomial targets, masks that only shrink for every
// pattern (per layer and under global ranking), valid masks and met targets at each
// stage, the fine-tuning callback, determinism and rejected inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "tests/test_util.hpp"
#include "tilesparse/core/error.hpp"
#include "tilesparse/prune/project.hpp"
#include "tilesparse/prune/schedule.hpp"

namespace tilesparse {
namespace {

const std::vector<double> kSteps = {0.25, 0.35, 0.5, 0.6, 0.7, 0.75};

PatternSpec make_spec(Pattern p, NmUnit unit = NmUnit::element) {
  PatternSpec s;
  s.pattern = p;
  s.g = 8;
  s.bk = 4;
  s.bn = 3;
  s.unit = unit;
  s.v = 2;
  s.b = 2;
  s.delta = 0.05;
  return s;
}

// Elements of one pruning unit: "within one unit" of a target is this many elements.
std::int64_t unit_size(const PatternSpec& s) {
  switch (s.pattern) {
    case Pattern::bw: return s.bk * s.bn;
    case Pattern::tw:
    case Pattern::tew: return s.g;
    case Pattern::nm: return s.unit_rows() * s.unit_cols();
    default: return 1;
  }
}

double fixed_sparsity(const PatternSpec& s) {
  if (s.pattern == Pattern::sp24) return 0.5;
  return 1.0 - double(s.keep) / s.group;
}

bool is_fixed(const PatternSpec& s) { return s.pattern == Pattern::nm || s.pattern == Pattern::sp24; }

// Fresh random scores each call, blind to the masks: without the allowed set, pruned
// elements would come back, so the schedule alone must keep them pruned.
ScheduleOptions random_score_options(std::uint64_t& calls) {
  ScheduleOptions o;
  o.scores = [&calls](const ScheduleLayer& l) {
    return magnitude_scores(HostMatrix::random(l.weight.rows(), l.weight.cols(), DType::f32, 1000 + calls++));
  };
  return o;
}

bool subset(const Mask& later, const Mask& earlier) {
  for (std::size_t i = 0; i < later.keep.size(); ++i)
    if (later.keep[i] && !earlier.keep[i]) return false;
  return true;
}

// Runs kSteps on one layer and checks every stage: the mask validates for the pattern,
// the sparsity is within one unit of the target, and it only shrinks.
std::vector<PatternMask> check_stages(const PatternSpec& spec, std::int64_t k, std::int64_t n, std::uint64_t seed) {
  std::vector<ScheduleLayer> layers{{"w", HostMatrix::random(k, n, DType::f32, seed), spec}};
  std::uint64_t calls = seed;
  ScheduleOptions options = random_score_options(calls);
  std::vector<PatternMask> masks;
  options.after_stage = [&](const StageResult& r, std::vector<ScheduleLayer>& ls) { masks.push_back(ls[0].mask); };
  const auto results = run_schedule(layers, kSteps, options);
  EXPECT_EQ(results.size(), kSteps.size());
  for (std::size_t s = 0; s < masks.size(); ++s) {
    const std::string where = spec.describe() + " " + std::to_string(k) + "x" + std::to_string(n) + " stage " +
                              std::to_string(s);
    const Validation v = validate_mask(masks[s].mask, spec);
    EXPECT_TRUE(v.ok()) << where << ": " << v.problem;
    const Mask all = masks[s].combined();
    const double target = is_fixed(spec) ? fixed_sparsity(spec) : kSteps[s];
    if (k * n > 0) {
      EXPECT_LE(std::fabs(all.sparsity() - target) * double(k * n), double(unit_size(spec)) + 1e-9) << where;
    }
    EXPECT_DOUBLE_EQ(results[s].layer_sparsity[0], all.sparsity()) << where;
    if (s > 0) EXPECT_TRUE(subset(all, masks[s - 1].combined())) << where << ": a pruned element came back";
    // Pruned weights are zero after the stage.
    if (s + 1 == masks.size()) {
      std::int64_t live_pruned = 0;
      for (std::size_t i = 0; i < all.keep.size(); ++i) live_pruned += !all.keep[i] && layers[0].weight.values()[i] != 0;
      EXPECT_EQ(live_pruned, 0) << where << ": pruned weights must be zero";
    }
  }
  return masks;
}

struct Case {
  PatternSpec spec;
  std::int64_t k, n;
};

std::vector<Case> cases() {
  std::vector<Case> out;
  const std::vector<PatternSpec> specs = {
      make_spec(Pattern::ew),  make_spec(Pattern::bw),  make_spec(Pattern::tw),
      make_spec(Pattern::tew), make_spec(Pattern::sp24), make_spec(Pattern::nm, NmUnit::element),
      make_spec(Pattern::nm, NmUnit::vector), make_spec(Pattern::nm, NmUnit::block)};
  for (const auto& s : specs)
    for (auto [k, n] : std::vector<std::pair<std::int64_t, std::int64_t>>{{64, 48}, {37, 29}, {13, 5}, {1, 1}, {0, 7}})
      out.push_back({s, k, n});
  PatternSpec g1 = make_spec(Pattern::tw);
  g1.g = 1;
  out.push_back({g1, 20, 9});
  PatternSpec rows_only = make_spec(Pattern::tw);
  rows_only.column_share = 0;
  out.push_back({rows_only, 40, 30});
  return out;
}

TEST(Schedule, EveryPatternValidatesMeetsTargetsAndOnlyShrinks) {
  std::uint64_t seed = 1;
  for (const Case& c : cases()) check_stages(c.spec, c.k, c.n, seed++);
}

TEST(Schedule, Deterministic) {
  for (const Case& c : cases()) {
    const auto a = check_stages(c.spec, c.k, c.n, 7);
    const auto b = check_stages(c.spec, c.k, c.n, 7);
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].mask, b[i].mask) << c.spec.describe();
      EXPECT_EQ(a[i].residual, b[i].residual) << c.spec.describe();
    }
  }
}

// The allowed set is what keeps masks shrinking: re-projecting the same scores without it
// brings pruned elements back (so the monotonicity checks above have teeth).
TEST(Schedule, WithoutAllowedSetPrunedElementsComeBack) {
  for (Pattern p : {Pattern::ew, Pattern::bw, Pattern::tw, Pattern::tew}) {
    const PatternSpec spec = make_spec(p);
    const HostMatrix s1 = magnitude_scores(HostMatrix::random(64, 48, DType::f32, 1));
    const HostMatrix s2 = magnitude_scores(HostMatrix::random(64, 48, DType::f32, 2));
    const PatternMask first = project(s1, spec, 0.5);
    EXPECT_FALSE(subset(project(s2, spec, 0.6).combined(), first.combined())) << spec.describe();
    const PatternMask second = project(s2, spec, 0.6, first.combined());
    EXPECT_TRUE(subset(second.combined(), first.combined())) << spec.describe();
    EXPECT_TRUE(validate_mask(second.mask, spec).ok()) << spec.describe();
  }
}

// When the allowed set is already sparser than the target, the result keeps nothing it
// forbids (and so is sparser than asked) instead of growing back.
TEST(Schedule, AllowedSparserThanTargetWins) {
  for (Pattern p : {Pattern::ew, Pattern::bw, Pattern::tw, Pattern::tew}) {
    const PatternSpec spec = make_spec(p);
    const HostMatrix s = magnitude_scores(HostMatrix::random(40, 32, DType::f32, 3));
    const Mask allowed = project(s, spec, 0.8).combined();
    const PatternMask m = project(s, spec, 0.5, allowed);
    EXPECT_TRUE(subset(m.combined(), allowed)) << spec.describe();
    EXPECT_GE(m.combined().sparsity(), allowed.sparsity()) << spec.describe();
    EXPECT_GE(allowed.sparsity(), 0.8 - 0.5 * unit_size(spec) / (40.0 * 32)) << spec.describe();
  }
}

TEST(Schedule, GlobalRankingAcrossLayersOnlyShrinks) {
  std::vector<ScheduleLayer> layers{{"ew", HostMatrix::random(48, 40, DType::f32, 1), make_spec(Pattern::ew)},
                                    {"tw", HostMatrix::random(33, 50, DType::f32, 2), make_spec(Pattern::tw)},
                                    {"bw", HostMatrix::random(40, 27, DType::f32, 3), make_spec(Pattern::bw)},
                                    {"tew", HostMatrix::random(64, 24, DType::f32, 4), make_spec(Pattern::tew)},
                                    {"24", HostMatrix::random(16, 16, DType::f32, 5), make_spec(Pattern::sp24)},
                                    {"first", HostMatrix::random(8, 8, DType::f32, 6), make_spec(Pattern::ew)}};
  layers.back().exclude = true;
  std::uint64_t calls = 0;
  ScheduleOptions options = random_score_options(calls);
  options.global = true;
  std::vector<std::vector<PatternMask>> history;
  options.after_stage = [&](const StageResult&, std::vector<ScheduleLayer>& ls) {
    std::vector<PatternMask> m;
    for (const auto& l : ls) m.push_back(l.mask);
    history.push_back(std::move(m));
  };
  // Scores blind to the masks, so the ranking would otherwise move units between layers.
  const auto results = run_schedule(layers, kSteps, options);
  ASSERT_EQ(history.size(), kSteps.size());
  std::int64_t ranked_total = 0, slack = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    ranked_total += layers[i].weight.size();
    slack += unit_size(layers[i].spec);
  }
  for (std::size_t s = 0; s < history.size(); ++s) {
    double pruned = 0;
    for (std::size_t i = 0; i < layers.size(); ++i) {
      const Mask all = history[s][i].combined();
      EXPECT_TRUE(validate_mask(history[s][i].mask, layers[i].spec).ok()) << layers[i].name << " stage " << s;
      if (s > 0) EXPECT_TRUE(subset(all, history[s - 1][i].combined())) << layers[i].name << " stage " << s;
      if (i < 4) pruned += all.sparsity() * double(all.keep.size());
    }
    EXPECT_EQ(history[s][5].combined().kept(), 64) << "excluded layer stays dense";
    EXPECT_DOUBLE_EQ(history[s][4].combined().sparsity(), 0.5);
    // Each ranked layer's projection lands within a unit of its share; together within
    // the sum of their units.
    EXPECT_LE(std::fabs(pruned - kSteps[s] * double(ranked_total)), double(slack) + 1e-6) << "stage " << s;
  }
  EXPECT_NE(results.back().layer_sparsity[0], results.back().layer_sparsity[1]);
}

TEST(Schedule, CallbackSeesStagesAndUpdatesWeights) {
  std::vector<ScheduleLayer> layers{{"w", HostMatrix::random(32, 24, DType::f32, 9), make_spec(Pattern::ew)}};
  std::vector<int> stages;
  std::vector<double> targets;
  ScheduleOptions options;
  options.after_stage = [&](const StageResult& r, std::vector<ScheduleLayer>& ls) {
    stages.push_back(r.stage);
    targets.push_back(r.target);
    // "Fine-tuning": every weight, pruned or not, grows; the schedule re-zeroes the pruned.
    for (auto& v : ls[0].weight.mutable_values()) v += 0.5f;
  };
  const std::vector<double> steps = {0.3, 0.6};
  run_schedule(layers, steps, options);
  EXPECT_EQ(stages, (std::vector<int>{0, 1}));
  EXPECT_EQ(targets, steps);
  const Mask all = layers[0].mask.combined();
  for (std::size_t i = 0; i < all.keep.size(); ++i) {
    if (all.keep[i]) EXPECT_NE(layers[0].weight.values()[i], 0.0f);
    else EXPECT_EQ(layers[0].weight.values()[i], 0.0f);
  }
  // The second stage ranked the fine-tuned weights: the update reached the scores.
  EXPECT_NEAR(all.sparsity(), 0.6, 1.0 / 768);
}

TEST(Schedule, CallbackMayNotChangeMasks) {
  std::vector<ScheduleLayer> layers{{"w", HostMatrix::random(16, 16, DType::f32, 9), make_spec(Pattern::ew)}};
  ScheduleOptions options;
  options.after_stage = [](const StageResult&, std::vector<ScheduleLayer>& ls) { ls[0].mask.mask.keep[0] ^= 1; };
  try {
    run_schedule(layers, kSteps, options);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("changed layer 'w'"), std::string::npos) << e.what();
  }
}

TEST(Schedule, PolynomialFollowsZhuGupta) {
  const auto s = polynomial_schedule(0.0, 0.8, 4);
  ASSERT_EQ(s.size(), 4u);
  EXPECT_NEAR(s[0], 0.8 - 0.8 * 0.421875, 1e-12);
  EXPECT_NEAR(s[1], 0.8 - 0.8 * 0.125, 1e-12);
  EXPECT_NEAR(s[2], 0.8 - 0.8 * 0.015625, 1e-12);
  EXPECT_DOUBLE_EQ(s[3], 0.8);
  // Steps shrink: most of the pruning happens early.
  EXPECT_GT(s[0] - 0.0, s[1] - s[0]);
  EXPECT_GT(s[1] - s[0], s[2] - s[1]);
  EXPECT_EQ(polynomial_schedule(0.5, 0.5, 3), (std::vector<double>{0.5, 0.5, 0.5}));
}

void expect_error(const std::function<void()>& f, const std::string& part) {
  try {
    f();
    FAIL() << "expected an error containing '" << part << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

TEST(Schedule, RejectsBadInput) {
  expect_error([] { polynomial_schedule(0, 0.5, 0); }, "at least one stage");
  expect_error([] { polynomial_schedule(0.6, 0.5, 3); }, "initial <= final");
  const std::vector<double> down = {0.5, 0.4};
  expect_error([&] { step_schedule(down); }, "masks only shrink");
  const std::vector<double> over = {0.5, 1.5};
  expect_error([&] { step_schedule(over); }, "stage 1 target");
  const std::vector<double> nan = {std::numeric_limits<double>::quiet_NaN()};
  expect_error([&] { step_schedule(nan); }, "outside [0, 1]");

  HostMatrix w = HostMatrix::random(8, 8, DType::f32, 1);
  w.mutable_values()[10] = std::numeric_limits<float>::infinity();
  std::vector<ScheduleLayer> layers{{"w", w, make_spec(Pattern::ew)}};
  expect_error([&] { run_schedule(layers, kSteps); }, "(1, 2)");
  auto global = layers;
  expect_error(
      [&] {
        ScheduleOptions o;
        o.global = true;
        run_schedule(global, kSteps, o);
      },
      "(1, 2)");

  const HostMatrix s = magnitude_scores(HostMatrix::random(8, 8, DType::f32, 1));
  expect_error([&] { project(s, make_spec(Pattern::ew), 0.5, Mask(8, 7, true)); }, "allowed mask is [8x7]");
  expect_error([&] { project(s, make_spec(Pattern::dense), std::nullopt, Mask(8, 8, false)); }, "forbids");
}

}  // namespace
}  // namespace tilesparse

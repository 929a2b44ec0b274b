// Global ranking: one threshold across layers, floors/ceilings, exclusion, every mask valid.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "tilesparse/core/error.hpp"
#include "tilesparse/prune/global.hpp"
#include "tilesparse/prune/project.hpp"

namespace tilesparse {
namespace {

HostMatrix scaled_scores(std::int64_t k, std::int64_t n, std::uint64_t seed, float scale) {
  HostMatrix s = magnitude_scores(HostMatrix::random(k, n, DType::f32, seed));
  for (auto& v : s.mutable_values()) v *= scale;
  return s;
}

PatternSpec spec_of_pattern(Pattern p) {
  PatternSpec s;
  s.pattern = p;
  s.g = 8;
  s.bk = 4;
  s.bn = 4;
  return s;
}

std::vector<GlobalLayer> three_layers(Pattern p) {
  return {{"a", scaled_scores(40, 24, 1, 1.0f), spec_of_pattern(p)},
          {"b", scaled_scores(33, 17, 2, 4.0f), spec_of_pattern(p)},  // odd shape, important
          {"c", scaled_scores(16, 40, 3, 0.5f), spec_of_pattern(p)}};
}

double pruned_elements(const std::vector<GlobalLayerResult>& r, const std::vector<GlobalLayer>& l) {
  double s = 0;
  for (std::size_t i = 0; i < r.size(); ++i) s += r[i].achieved * double(l[i].scores.size());
  return s;
}

TEST(Global, OneThresholdAcrossLayersForElements) {
  const auto layers = three_layers(Pattern::ew);
  const auto r = global_prune(layers, 0.6);
  double total = 0;
  for (const auto& l : layers) total += double(l.scores.size());
  EXPECT_NEAR(pruned_elements(r, layers), 0.6 * total, 3.0);  // within one element per layer
  // The important layer stays denser, the unimportant one loses more.
  EXPECT_LT(r[1].achieved, r[0].achieved);
  EXPECT_GT(r[2].achieved, r[0].achieved);
  // One threshold: every kept score is >= every pruned score, across layers.
  float min_kept = INFINITY, max_pruned = 0;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    EXPECT_TRUE(validate_mask(r[i].mask.mask, layers[i].spec).ok());
    for (std::size_t e = 0; e < r[i].mask.mask.keep.size(); ++e) {
      const float s = layers[i].scores.values()[e];
      if (r[i].mask.mask.keep[e]) min_kept = std::min(min_kept, s);
      else max_pruned = std::max(max_pruned, s);
    }
  }
  EXPECT_GE(min_kept, max_pruned);
}

TEST(Global, FloorsCeilingsAndExclusionKeepTheBudget) {
  auto layers = three_layers(Pattern::ew);
  layers[1].floor = 0.5;    // would be ~0.1 unconstrained
  layers[2].ceiling = 0.7;  // would be ~0.9
  const auto r = global_prune(layers, 0.6);
  EXPECT_GE(r[1].achieved, 0.5 - 1.0 / layers[1].scores.size());
  EXPECT_LE(r[2].achieved, 0.7 + 1.0 / layers[2].scores.size());
  double total = 0;
  for (const auto& l : layers) total += double(l.scores.size());
  EXPECT_NEAR(pruned_elements(r, layers), 0.6 * total, 3.0);

  layers = three_layers(Pattern::ew);
  layers[0].exclude = true;
  const auto x = global_prune(layers, 0.5);
  EXPECT_EQ(x[0].achieved, 0.0);
  EXPECT_NEAR(x[1].achieved * layers[1].scores.size() + x[2].achieved * layers[2].scores.size(),
              0.5 * double(layers[1].scores.size() + layers[2].scores.size()), 2.0);

  layers = three_layers(Pattern::ew);
  for (auto& l : layers) l.ceiling = 0.3;
  try {
    global_prune(layers, 0.5);
    FAIL() << "infeasible ceilings accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("allow a sparsity between"), std::string::npos) << e.what();
  }
}

TEST(Global, EveryRankedPatternValidatesAndIsDeterministic) {
  for (Pattern p : {Pattern::ew, Pattern::bw, Pattern::tw, Pattern::tew}) {
    const auto layers = three_layers(p);
    const auto r = global_prune(layers, 0.75);
    for (std::size_t i = 0; i < layers.size(); ++i) {
      EXPECT_TRUE(validate_mask(r[i].mask.mask, layers[i].spec).ok()) << to_string(p) << " layer " << i;
      EXPECT_GE(r[i].target, 0.0);
      EXPECT_LE(r[i].target, 1.0);
    }
    EXPECT_NE(r[0].target, r[1].target) << to_string(p);  // uneven
    const auto again = global_prune(layers, 0.75);
    for (std::size_t i = 0; i < r.size(); ++i) EXPECT_EQ(r[i].mask.mask, again[i].mask.mask);
  }
}

TEST(Global, FixedPatternsAndAllZeroLayers) {
  std::vector<GlobalLayer> layers = three_layers(Pattern::ew);
  layers[0].spec = spec_of_pattern(Pattern::sp24);
  layers[2].scores = HostMatrix(16, 40);  // all zeros: pruned first
  const auto s = global_layer_sparsities(layers, 0.5);
  EXPECT_DOUBLE_EQ(s[0], 0.5);
  EXPECT_GT(s[2], s[1]);
  const auto r = global_prune(layers, 0.5);
  EXPECT_TRUE(validate_mask(r[0].mask.mask, layers[0].spec).ok());
  EXPECT_TRUE(global_prune({}, 0.5).empty());
}

TEST(Global, RejectsBadInput) {
  auto layers = three_layers(Pattern::ew);
  layers[1].scores.mutable_values()[5] = std::nanf("");
  try {
    global_prune(layers, 0.5);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("layer 'b'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("value at (0, 5)"), std::string::npos) << e.what();
  }
  layers = three_layers(Pattern::ew);
  EXPECT_THROW(global_prune(layers, 1.5), Error);
  layers[0].floor = 0.8;
  layers[0].ceiling = 0.2;
  EXPECT_THROW(global_prune(layers, 0.5), Error);
}

}  // namespace
}  // namespace tilesparse

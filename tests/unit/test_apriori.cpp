// Apriori tuning of TW: EW-informed priorities move the TW mask in the intended direction
// on constructed cases, and the results validate and meet the target.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "tilesparse/core/error.hpp"
#include "tilesparse/prune/apriori.hpp"
#include "tilesparse/prune/project.hpp"

namespace tilesparse {
namespace {

PatternSpec tw_spec(std::int64_t g, double column_share = -1) {
  PatternSpec s;
  s.pattern = Pattern::tw;
  s.g = g;
  s.column_share = column_share;
  return s;
}

// Uniform scores in [0, 10), with room to plant special columns/rows.
HostMatrix uniform_scores(std::int64_t k, std::int64_t n, std::uint64_t seed) {
  HostMatrix s = magnitude_scores(HostMatrix::random(k, n, DType::f32, seed));
  float top = 0;
  for (float v : s.values()) top = std::max(top, v);
  for (auto& v : s.mutable_values()) v = v / top * 9.99f;
  return s;
}

bool column_kept(const Mask& m, std::int64_t c) {
  for (std::int64_t r = 0; r < m.rows; ++r)
    if (m(r, c)) return true;
  return false;
}

std::int64_t agreement(const Mask& a, const Mask& b) {
  std::int64_t same = 0;
  for (std::size_t i = 0; i < a.keep.size(); ++i) same += a.keep[i] == b.keep[i];
  return same;
}

void expect_valid(const PatternMask& m, const PatternSpec& spec, double target, std::int64_t unit) {
  EXPECT_TRUE(validate_mask(m.mask, spec).ok()) << validate_mask(m.mask, spec).problem;
  const Mask all = m.combined();
  EXPECT_LE(std::fabs(all.sparsity() - target) * double(all.keep.size()), double(unit) + 1e-9);
}

// A spiky column (two huge elements, zeros elsewhere) has a high mean, so plain TW keeps
// it, yet EW keeps only 2 of its elements: apriori prunes it first, and the TW mask then
// agrees with EW on more elements.
TEST(Apriori, PrioritisesColumnsEwPrunes) {
  const std::int64_t k = 32, n = 16;
  HostMatrix s = uniform_scores(k, n, 1);
  for (std::int64_t r = 0; r < k; ++r) s.set(r, 3, r < 2 ? 100.0f : 0.0f);
  const PatternSpec spec = tw_spec(4);
  const Mask plain = project(s, spec, 0.5).mask;
  EXPECT_TRUE(column_kept(plain, 3));
  const PatternMask tuned = apriori_tw(s, spec, 0.5, {.prune_columns = 1});
  EXPECT_FALSE(column_kept(tuned.mask, 3));
  expect_valid(tuned, spec, 0.5, 4);
  PatternSpec ew;
  ew.pattern = Pattern::ew;
  const Mask ew_mask = project(s, ew, 0.5).mask;
  EXPECT_GT(agreement(tuned.mask, ew_mask), agreement(plain, ew_mask));
}

// A flat column just above the EW threshold: EW keeps all of it, but its mean is the
// lowest, so plain TW prunes it as a column; protected, it survives.
TEST(Apriori, ProtectsColumnsEwKeeps) {
  const std::int64_t k = 32, n = 16;
  HostMatrix s = uniform_scores(k, n, 2);
  for (std::int64_t r = 0; r < k; ++r) s.set(r, 5, 3.6f);  // EW at 30% cuts near 3.0
  const PatternSpec spec = tw_spec(4);
  PatternSpec ew;
  ew.pattern = Pattern::ew;
  ASSERT_DOUBLE_EQ(kept_share_per_column(project(s, ew, 0.3).mask)[5], 1.0);
  EXPECT_FALSE(column_kept(project(s, spec, 0.3).mask, 5));
  const PatternMask tuned = apriori_tw(s, spec, 0.3, {.protect_columns = 1});
  EXPECT_TRUE(column_kept(tuned.mask, 5));
  expect_valid(tuned, spec, 0.3, 4);
}

// Rows of tiles, with one tile spanning all columns and no column budget: a flat row EW
// keeps whole is protected, a spiky row EW mostly prunes goes first.
TEST(Apriori, RowsOfTilesFollowEw) {
  const std::int64_t k = 24, n = 16;
  HostMatrix s = uniform_scores(k, n, 3);
  for (std::int64_t c = 0; c < n; ++c) {
    s.set(7, c, 3.6f);
    s.set(11, c, c == 0 ? 200.0f : 0.0f);
  }
  const PatternSpec spec = tw_spec(n, 0.0);
  const Mask plain = project(s, spec, 0.3).mask;
  EXPECT_FALSE(plain(7, 0));
  EXPECT_TRUE(plain(11, 0));
  const PatternMask tuned = apriori_tw(s, spec, 0.3, {.prune_rows = 1, .protect_rows = 1});
  EXPECT_TRUE(tuned.mask(7, 0));
  EXPECT_FALSE(tuned.mask(11, 0));
  expect_valid(tuned, spec, 0.3, n);
}

TEST(Apriori, NoPrioritiesIsPlainTwAndTewWorks) {
  const HostMatrix s = uniform_scores(37, 29, 4);
  for (std::int64_t g : {1, 4, 8}) {
    const PatternSpec spec = tw_spec(g);
    EXPECT_EQ(apriori_tw(s, spec, 0.6, {}).mask, project(s, spec, 0.6).mask);
    const PatternMask tuned = apriori_tw(s, spec, 0.6, {2, 3, 5, 7});
    expect_valid(tuned, spec, 0.6, g);
    EXPECT_EQ(tuned.mask, apriori_tw(s, spec, 0.6, {2, 3, 5, 7}).mask) << "deterministic";
  }
  PatternSpec tew = tw_spec(4);
  tew.pattern = Pattern::tew;
  const PatternMask m = apriori_tw(s, tew, 0.6, {1, 1, 3, 3});
  expect_valid(m, tew, 0.6, 4);
  const HostMatrix empty(0, 5, DType::f32);
  EXPECT_EQ(apriori_tw(empty, tw_spec(4), 0.5, {1, 1, 1, 1}).mask.kept(), 0);
}

void expect_error(const std::function<void()>& f, const std::string& part) {
  try {
    f();
    FAIL() << "expected an error containing '" << part << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

TEST(Apriori, RejectsBadInput) {
  HostMatrix s = uniform_scores(8, 8, 5);
  PatternSpec bw;
  bw.pattern = Pattern::bw;
  expect_error([&] { apriori_tw(s, bw, 0.5, {}); }, "for tw and tew");
  expect_error([&] { apriori_tw(s, tw_spec(4), 0.5, {.prune_rows = -1}); }, ">= 0");
  expect_error([&] { apriori_tw(s, tw_spec(4), 0.5, {.prune_columns = 5, .protect_columns = 4}); }, "exceed the 8");
  s.set(2, 3, std::nanf(""));
  expect_error([&] { apriori_tw(s, tw_spec(4), 0.5, {}); }, "(2, 3)");
}

TEST(Apriori, StaysInsideAnAllowedMask) {
  for (Pattern p : {Pattern::tw, Pattern::tew}) {
    PatternSpec spec;
    spec.pattern = p;
    spec.g = 8;
    const HostMatrix first_scores = uniform_scores(48, 40, 21);
    const HostMatrix later_scores = uniform_scores(48, 40, 22);
    AprioriOptions a;
    a.prune_columns = a.protect_columns = 3;
    a.prune_rows = a.protect_rows = 4;
    const Mask allowed = apriori_tw(first_scores, spec, 0.4, a).combined();
    const PatternMask later = apriori_tw(later_scores, spec, 0.6, a, &allowed);
    const Mask all = later.combined();
    for (std::size_t i = 0; i < all.keep.size(); ++i)
      ASSERT_TRUE(!all.keep[i] || allowed.keep[i]) << "element " << i << " came back (" << spec.describe() << ")";
    EXPECT_TRUE(validate_mask(later.mask, spec).ok()) << validate_mask(later.mask, spec).problem;
    EXPECT_GE(all.sparsity(), 0.6 - 0.05) << spec.describe();
  }
}

}  // namespace
}  // namespace tilesparse

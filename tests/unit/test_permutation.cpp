// Channel permutation search for N:M: optimality against brute force on small matrices,
// apex's efficacy bar on a 64x128 matrix, any M, partial groups, the layer-pair helper.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <numeric>
#include <random>

#include "test_util.hpp"
#include "tilesparse/core/error.hpp"
#include "tilesparse/prune/permutation.hpp"
#include "tilesparse/prune/project.hpp"

namespace tilesparse {
namespace {

HostMatrix random_scores(std::int64_t k, std::int64_t n, std::uint64_t seed) {
  return magnitude_scores(HostMatrix::random(k, n, DType::f32, seed));
}

// Kept score of N:M over rows in `order`, computed independently of the library.
double kept_in_order(const HostMatrix& s, const std::vector<std::int64_t>& order, int keep, int group) {
  double total = 0;
  for (std::int64_t j = 0; j < s.cols(); ++j)
    for (std::size_t g = 0; g < order.size(); g += group) {
      std::vector<float> v;
      for (std::size_t i = g; i < std::min(order.size(), g + group); ++i) v.push_back(s(order[i], j));
      std::sort(v.rbegin(), v.rend());
      for (std::size_t i = 0; i < std::min<std::size_t>(keep, v.size()); ++i) total += v[i];
    }
  return total;
}

// Optimum over every split of K (a multiple of M, at most 64) rows into groups of M: the
// first free row opens each group, so each split is seen once; group scores are memoised.
double brute_force_optimum(const HostMatrix& s, int keep, int group) {
  const auto k = static_cast<std::size_t>(s.rows());
  std::map<std::uint64_t, double> memo;
  auto group_score = [&](const std::vector<std::int64_t>& members) {
    std::uint64_t bits = 0;
    for (auto r : members) bits |= std::uint64_t{1} << r;
    auto [it, fresh] = memo.try_emplace(bits, 0.0);
    if (fresh) it->second = kept_in_order(s, members, keep, group);
    return it->second;
  };
  std::vector<std::int64_t> current;
  std::vector<bool> used(k, false);
  double best = 0;
  std::function<void(std::size_t, double)> rec = [&](std::size_t placed, double done) {
    if (placed == k) {
      best = std::max(best, done);
      return;
    }
    if (current.empty()) {  // open a group with the first free row
      const std::size_t first = std::find(used.begin(), used.end(), false) - used.begin();
      used[first] = true;
      current.push_back(static_cast<std::int64_t>(first));
      rec(placed + 1, done);
      current.pop_back();
      used[first] = false;
      return;
    }
    for (std::size_t r = static_cast<std::size_t>(current.back()) + 1; r < k; ++r) {
      if (used[r]) continue;
      used[r] = true;
      current.push_back(static_cast<std::int64_t>(r));
      if (current.size() == static_cast<std::size_t>(group)) {
        auto members = current;
        current.clear();
        rec(placed + 1, done + group_score(members));
        current = members;
      } else {
        rec(placed + 1, done);
      }
      current.pop_back();
      used[r] = false;
    }
  };
  rec(0, 0.0);
  return best;
}

void expect_consistent(const PermutationResult& r, const HostMatrix& s, int keep, int group) {
  ASSERT_NO_THROW(check_permutation(r.permutation, s.rows(), "test"));
  std::vector<std::int64_t> identity(static_cast<std::size_t>(s.rows()));
  std::iota(identity.begin(), identity.end(), 0);
  EXPECT_NEAR(r.kept_before, kept_in_order(s, identity, keep, group), 1e-6 * (1 + r.kept_before));
  EXPECT_NEAR(r.kept_after, kept_in_order(s, r.permutation, keep, group), 1e-6 * (1 + r.kept_after));
  EXPECT_GE(r.kept_after, r.kept_before - 1e-9);
  EXPECT_LE(r.kept_after, r.upper_bound + 1e-6);
  EXPECT_GE(r.efficacy, 0.0);
  EXPECT_LE(r.efficacy, 1.0 + 1e-9);
}

// 12 rows = 3 stripes of 4, searched 2 stripes at a time: the search is not trivially
// exhaustive, yet small enough to brute-force (5775 splits).
void optimum_rate(int keep, double floor) {
  int optimal = 0;
  const int seeds = 50;
  for (int seed = 0; seed < seeds; ++seed) {
    const HostMatrix s = random_scores(12, 16, 1000 + seed);
    const auto r = search_nm_permutation(s, keep, 4);
    expect_consistent(r, s, keep, 4);
    const double best = brute_force_optimum(s, keep, 4);
    EXPECT_LE(r.kept_after, best + 1e-6);
    optimal += r.kept_after >= best - 1e-6 * best;
  }
  const double rate = double(optimal) / seeds;
  std::printf("[ permutation ] %d:4 on 12x16: brute-force optimum reached in %d/%d seeds (%.0f%%)\n", keep, optimal,
              seeds, 100 * rate);
  EXPECT_GE(rate, floor);
}

TEST(Permutation, ReachesBruteForceOptimumMostOfTheTime24) { optimum_rate(2, 0.8); }
TEST(Permutation, ReachesBruteForceOptimumMostOfTheTime14) { optimum_rate(1, 0.8); }

TEST(Permutation, TwoStripesAreSearchedExhaustively) {
  // 8 rows = one stripe group: the stripe-group search is the full search.
  for (int keep : {1, 2, 3})
    for (int seed = 0; seed < 10; ++seed) {
      const HostMatrix s = random_scores(8, 16, 77 + seed);
      const auto r = search_nm_permutation(s, keep, 4);
      EXPECT_NEAR(r.kept_after, brute_force_optimum(s, keep, 4), 1e-6 * r.kept_after) << keep << ":4 seed " << seed;
    }
}

TEST(Permutation, PartialLastGroupReachesOptimumOverAllOrders) {
  // K = 6 and 7 with M = 4: two stripes, the second partial. Brute force over every
  // order of K (720 and 5040), so phantom handling cannot hide a better order.
  for (std::int64_t k : {6, 7})
    for (int seed = 0; seed < 3; ++seed) {
      const HostMatrix s = random_scores(k, 8, 500 + seed);
      std::vector<std::int64_t> order(static_cast<std::size_t>(k));
      std::iota(order.begin(), order.end(), 0);
      double best = 0;
      do best = std::max(best, kept_in_order(s, order, 2, 4));
      while (std::next_permutation(order.begin(), order.end()));
      const auto r = search_nm_permutation(s, 2, 4);
      expect_consistent(r, s, 2, 4);
      EXPECT_NEAR(r.kept_after, best, 1e-6 * best) << "K=" << k << " seed " << seed;
    }
}

// apex's test input: `np.random.seed(seed); np.random.rand(rows, cols)` (permutation_test.py,
// legacy RandomState). Its integer seeding is MT19937's init_genrand, so std::mt19937
// draws the same 32-bit words, and rand() turns each pair into a 53-bit double.
std::vector<double> numpy_legacy_rand(std::int64_t rows, std::int64_t cols, std::uint32_t seed) {
  std::mt19937 words(seed);
  std::vector<double> v(static_cast<std::size_t>(rows * cols));
  for (auto& x : v) {
    const double hi = words() >> 5, lo = words() >> 6;
    x = (hi * 67108864.0 + lo) / 9007199254740992.0;
  }
  return v;
}

TEST(Permutation, ApexEfficacyOnApexsOwnMatrix) {
  // apex's README table: a random 128-filter x 64-channel matrix (seed 1), 2:4 along the
  // channels, optimize_stripe_groups with 8 columns and no regressions: efficacy 35.5%.
  // Their matrix is filters x channels; ours is K (channels) x N (filters).
  const std::int64_t filters = 128, channels = 64;
  const std::vector<double> apex = numpy_legacy_rand(filters, channels, 1);
  HostMatrix s(channels, filters);
  double total = 0;
  for (std::int64_t f = 0; f < filters; ++f)
    for (std::int64_t c = 0; c < channels; ++c) {
      s.set(c, f, static_cast<float>(apex[f * channels + c]));
      total += apex[f * channels + c];
    }
  // The magnitudes apex prints for this input ("unpruned", "default 2:4", "50% rows")
  // prove the reproduction before any search runs.
  EXPECT_NEAR(total, 4083.169, 5e-3);
  PermutationOptions apex_setting;
  apex_setting.escape_attempts = 0;
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = search_nm_permutation(s, 2, 4, apex_setting);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  expect_consistent(r, s, 2, 4);
  EXPECT_NEAR(r.kept_before, 2852.376, 5e-3);
  EXPECT_NEAR(r.upper_bound, 3042.332, 5e-3);
  std::printf("[ permutation ] apex's 64x128 matrix, 2:4, 2 stripes, no regressions: kept %.3f (apex 2919.757), "
              "efficacy %.1f%% (apex 35.5%%), %.3f s\n",
              r.kept_after, 100 * r.efficacy, secs);
  // apex prints one decimal: 35.5% is their 2919.757 kept (GPU; 2919.759 on their CPU
  // path), efficacy 0.35472. Hold ours to the same magnitude and the same printed figure.
  EXPECT_GE(r.kept_after, 2919.757 - 5e-3);
  EXPECT_GE(std::round(1000 * r.efficacy) / 10, 35.5);

  const auto with_escapes = search_nm_permutation(s, 2, 4);  // defaults: 100 escape attempts
  std::printf("[ permutation ] same, 100 escape attempts: efficacy %.1f%% (apex 35.5%%)\n", 100 * with_escapes.efficacy);
  expect_consistent(with_escapes, s, 2, 4);
  EXPECT_GE(with_escapes.kept_after, r.kept_after - 1e-9);  // escapes keep the best order seen
  EXPECT_LE(with_escapes.escapes_used, 100);
}

TEST(Permutation, EfficacySpreadOverRandomMatrices) {
  // Efficacy depends on the matrix: report the spread over ten more 64x128 inputs at the
  // apex setting (30-38% when measured, mean 33.4%), and hold the mean to a floor.
  PermutationOptions apex_setting;
  apex_setting.escape_attempts = 0;
  double sum = 0;
  const int matrices = 10;
  for (int seed = 0; seed < matrices; ++seed) {
    const HostMatrix s = random_scores(64, 128, 2021 + seed);
    const auto r = search_nm_permutation(s, 2, 4, apex_setting);
    std::printf("[ permutation ] 64x128 2:4 apex setting, matrix %d: before %.3f after %.3f upper %.3f efficacy %.1f%%\n",
                seed, r.kept_before, r.kept_after, r.upper_bound, 100 * r.efficacy);
    expect_consistent(r, s, 2, 4);
    sum += r.efficacy;
  }
  std::printf("[ permutation ] mean efficacy %.1f%%\n", 100 * sum / matrices);
  EXPECT_GE(sum / matrices, 0.32);
}

TEST(Permutation, AnyGroupSize) {
  // 2:8, 3:8 are exhaustive over 6435 splits; 1:16 and 5:16 exceed the partition budget
  // and are hill-climbed.
  for (auto [keep, group] : {std::pair{2, 8}, {3, 8}, {1, 16}, {5, 16}, {1, 2}}) {
    const HostMatrix s = random_scores(32, 16, 9 + keep * group);
    PermutationOptions opt;
    opt.escape_attempts = group == 16 ? 0 : 5;
    const auto r = search_nm_permutation(s, keep, group, opt);
    expect_consistent(r, s, keep, group);
    EXPECT_GT(r.kept_after, r.kept_before) << keep << ":" << group;
    EXPECT_GT(r.efficacy, 0.1) << keep << ":" << group;
  }
}

TEST(Permutation, ThreeStripesPerGroupIsAtLeastAsGoodOnAverage) {
  double two = 0, three = 0;
  for (int seed = 0; seed < 4; ++seed) {
    const HostMatrix s = random_scores(32, 32, 300 + seed);
    PermutationOptions o;
    o.escape_attempts = 0;
    two += search_nm_permutation(s, 2, 4, o).kept_after;
    o.stripes_per_group = 3;
    three += search_nm_permutation(s, 2, 4, o).kept_after;
  }
  EXPECT_GE(three, two - 1e-6 * two);
}

TEST(Permutation, DeterministicForASeed) {
  const HostMatrix s = random_scores(40, 20, 5);
  PermutationOptions o;
  o.seed = 42;
  EXPECT_EQ(search_nm_permutation(s, 2, 4, o).permutation, search_nm_permutation(s, 2, 4, o).permutation);
}

TEST(Permutation, OddShapes) {
  for (auto [k, n] : {std::pair<std::int64_t, std::int64_t>{0, 5}, {5, 0}, {1, 1}, {3, 7}, {13, 3}, {4, 1}}) {
    const HostMatrix s = n == 0 || k == 0 ? HostMatrix(k, n) : random_scores(k, n, 11);
    const auto r = search_nm_permutation(s, 2, 4);
    expect_consistent(r, s, 2, 4);
    if (k * n == 0) EXPECT_EQ(r.efficacy, 1.0);
  }
}

TEST(Permutation, TiesAndZerosAreHandled) {
  const HostMatrix ones(16, 8, DType::f32, std::vector<float>(128, 1.0f));
  const auto r = search_nm_permutation(ones, 2, 4);
  expect_consistent(r, ones, 2, 4);
  EXPECT_EQ(r.efficacy, 1.0);  // nothing to gain: N:M already keeps the upper bound
  const auto z = search_nm_permutation(HostMatrix(16, 8), 2, 4);
  EXPECT_EQ(z.kept_after, 0.0);
}

TEST(Permutation, PatternSpecs) {
  const HostMatrix s = random_scores(24, 12, 3);
  PatternSpec sp24;
  sp24.pattern = Pattern::sp24;
  EXPECT_EQ(search_nm_permutation(s, sp24).permutation, search_nm_permutation(s, 2, 4).permutation);

  PatternSpec vec;
  vec.pattern = Pattern::nm;
  vec.unit = NmUnit::vector;
  vec.v = 4;
  // A vector's score is the sum of its 4 columns (12 columns -> 3 units).
  HostMatrix agg(24, 3);
  for (std::int64_t k = 0; k < 24; ++k)
    for (std::int64_t j = 0; j < 12; ++j) agg.set(k, j / 4, agg(k, j / 4) + s(k, j));
  EXPECT_EQ(search_nm_permutation(s, vec).permutation, search_nm_permutation(agg, 2, 4).permutation);

  PatternSpec block = vec;
  block.unit = NmUnit::block;
  block.b = 2;
  try {
    search_nm_permutation(s, block);
    FAIL() << "block units accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("block units"), std::string::npos) << e.what();
  }
  PatternSpec tw;
  tw.pattern = Pattern::tw;
  EXPECT_THROW(search_nm_permutation(s, tw), Error);
}

void expect_error(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    FAIL() << "no error; expected one mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Permutation, RejectsBadInput) {
  HostMatrix s = random_scores(8, 4, 1);
  s.mutable_values()[2 * 4 + 3] = std::nanf("");
  expect_error([&] { search_nm_permutation(s, 2, 4); }, "value at (2, 3)");
  s.mutable_values()[2 * 4 + 3] = -1.0f;
  expect_error([&] { search_nm_permutation(s, 2, 4); }, "value at (2, 3)");
  const HostMatrix ok = random_scores(8, 4, 1);
  expect_error([&] { search_nm_permutation(ok, 4, 4); }, "N=4 M=4");
  expect_error([&] { search_nm_permutation(ok, 0, 4); }, "N=0");
  PermutationOptions one;
  one.stripes_per_group = 1;
  expect_error([&] { search_nm_permutation(ok, 2, 4, one); }, "stripes_per_group");
  const std::vector<std::int64_t> repeat{0, 1, 1, 3, 4, 5, 6, 7};
  expect_error([&] { permute_rows(ok, repeat); }, "entry 2 repeats index 1");
  const std::vector<std::int64_t> outside{0, 1, 2, 3, 4, 5, 6, 8};
  expect_error([&] { permute_rows(ok, outside); }, "entry 7 is 8");
  expect_error([&] { permute_rows(ok, std::vector<std::int64_t>{0, 1}); }, "2 entries, expected 8");
}

// y = relu(x·w1 + b1)·w2 in double.
std::vector<double> two_layers(const HostMatrix& x, const HostMatrix& w1, const std::vector<float>& b1,
                               const HostMatrix& w2) {
  std::vector<double> y(static_cast<std::size_t>(x.rows() * w2.cols()), 0.0);
  for (std::int64_t i = 0; i < x.rows(); ++i)
    for (std::int64_t h = 0; h < w1.cols(); ++h) {
      double a = b1[h];
      for (std::int64_t k = 0; k < x.cols(); ++k) a += double(x(i, k)) * w1(k, h);
      a = std::max(a, 0.0);
      for (std::int64_t j = 0; j < w2.cols(); ++j) y[i * w2.cols() + j] += a * w2(h, j);
    }
  return y;
}

TEST(Permutation, LayerPairKeepsTheNetworkFunction) {
  const HostMatrix x = HostMatrix::random(7, 9, DType::f32, 1);
  HostMatrix w1 = HostMatrix::random(9, 12, DType::f32, 2);  // previous layer: 9 -> 12 features
  HostMatrix w2 = HostMatrix::random(12, 5, DType::f32, 3);  // this layer: K = 12
  std::vector<float> b1(12);
  for (std::size_t i = 0; i < b1.size(); ++i) b1[i] = 0.1f * float(i) - 0.5f;  // some features clipped by ReLU
  const auto before = two_layers(x, w1, b1, w2);

  const auto r = search_nm_permutation(magnitude_scores(w2), 2, 4);
  ASSERT_GT(r.kept_after, r.kept_before);  // a real reordering, not the identity
  const HostMatrix w2_original = w2;
  permute_layer_pair(w1, b1, w2, r.permutation);
  const auto after = two_layers(x, w1, b1, w2);
  for (std::size_t i = 0; i < before.size(); ++i) EXPECT_NEAR(after[i], before[i], 1e-12 * (1 + std::fabs(before[i])));

  // The permuted layer, 2:4-pruned, keeps the magnitude the search promised.
  PatternSpec sp24;
  sp24.pattern = Pattern::sp24;
  const Weight pruned = prune_magnitude(w2, sp24, std::nullopt);
  double kept = 0;
  const HostMatrix dense = to_dense(pruned);
  for (float v : dense.values()) kept += std::fabs(v);
  EXPECT_NEAR(kept, r.kept_after, 1e-5 * kept);
  EXPECT_EQ(w2, permute_rows(w2_original, r.permutation));

  std::vector<float> no_bias;
  HostMatrix a = HostMatrix::random(3, 12, DType::f32, 4), b = w2_original;
  EXPECT_NO_THROW(permute_layer_pair(a, no_bias, b, r.permutation));
  HostMatrix wrong = HostMatrix::random(3, 11, DType::f32, 4);
  expect_error([&] { permute_layer_pair(wrong, no_bias, b, r.permutation); }, "11 output features but this layer has K=12");
  std::vector<float> short_bias(5);
  expect_error([&] { permute_layer_pair(a, short_bias, b, r.permutation); }, "bias has 5 entries");
}

}  // namespace
}  // namespace tilesparse

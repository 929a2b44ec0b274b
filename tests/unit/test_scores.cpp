// Importance scores: Taylor (g·w)² over batches from a gradient file, user scores, unit
// aggregation by mean.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "tilesparse/core/error.hpp"
#include "tilesparse/prune/scores.hpp"

namespace tilesparse {
namespace {

void expect_error(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    FAIL() << "no error; expected one mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Scores, TaylorSumsSquaredGradientTimesWeightOverBatches) {
  const HostMatrix w = HostMatrix::random(5, 3, DType::f32, 1);
  const HostMatrix g1 = HostMatrix::random(5, 3, DType::f32, 2), g2 = HostMatrix::random(5, 3, DType::f32, 3);
  TaylorAccumulator acc(w);
  EXPECT_EQ(acc.scores(), HostMatrix(5, 3));
  acc.add_batch(g1);
  acc.add_batch(g2);
  EXPECT_EQ(acc.batches(), 2);
  const HostMatrix s = acc.scores();
  for (std::int64_t k = 0; k < 5; ++k)
    for (std::int64_t n = 0; n < 3; ++n) {
      const double a = double(g1(k, n)) * w(k, n), b = double(g2(k, n)) * w(k, n);
      EXPECT_FLOAT_EQ(s(k, n), float(a * a + b * b));
    }
  expect_error([&] { acc.add_batch(HostMatrix(3, 5)); }, "gradient of batch 2 is [3x5]");
  HostMatrix bad = g1;
  bad.mutable_values()[4] = std::nanf("");
  expect_error([&] { acc.add_batch(bad); }, "value at (1, 1)");
  HostMatrix bad_w = w;
  bad_w.mutable_values()[0] = INFINITY;
  expect_error([&] { TaylorAccumulator{bad_w}; }, "value at (0, 0)");
}

TEST(Scores, TaylorFromAFileOneBatchOrAStack) {
  const HostMatrix w = HostMatrix::random(4, 6, DType::f32, 5);
  const HostMatrix g1 = HostMatrix::random(4, 6, DType::f32, 6), g2 = HostMatrix::random(4, 6, DType::f32, 7);
  TaylorAccumulator acc(w);
  acc.add_batch(g1);
  acc.add_batch(g2);

  SafetensorsFile f;
  f.tensors["one"] = to_tensor(g1);
  std::vector<float> stacked(g1.values().begin(), g1.values().end());
  stacked.insert(stacked.end(), g2.values().begin(), g2.values().end());
  f.tensors["stack"] = Tensor::from_vector(stacked, {2, 4, 6});
  f.tensors["stack_out_in"] = Tensor::from_vector(
      [&] {
        std::vector<float> v;
        for (const HostMatrix* g : {&g1, &g2}) {
          const HostMatrix t = g->transposed();
          v.insert(v.end(), t.values().begin(), t.values().end());
        }
        return v;
      }(),
      {2, 6, 4});
  f.tensors["cube"] = Tensor::from_vector(std::vector<float>(8, 1.0f), {2, 2, 2, 1});

  TaylorAccumulator one(w);
  one.add_batch(g1);
  EXPECT_EQ(taylor_scores(f, "one", w, Layout::in_out), one.scores());
  EXPECT_EQ(taylor_scores(f, "stack", w, Layout::in_out), acc.scores());
  EXPECT_EQ(taylor_scores(f, "stack_out_in", w, Layout::out_in), acc.scores());
  expect_error([&] { taylor_scores(f, "missing", w, Layout::in_out); }, "no tensor named 'missing'");
  expect_error([&] { taylor_scores(f, "stack", w, Layout::out_in); }, "wrong --layout?");
  expect_error([&] { taylor_scores(f, "cube", w, Layout::in_out); }, "got 4-d");
}

TEST(Scores, UserScoresAreChecked) {
  SafetensorsFile f;
  const HostMatrix s = HostMatrix::random(3, 2, DType::f32, 9);
  HostMatrix pos(3, 2);
  for (std::int64_t i = 0; i < 6; ++i) pos.mutable_values()[i] = std::fabs(s.values()[i]);
  f.tensors["fc"] = to_tensor(pos);
  f.tensors["fc_t"] = to_tensor(pos.transposed());
  f.tensors["neg"] = to_tensor(s);
  EXPECT_EQ(user_scores(f, "fc", 3, 2, Layout::in_out), pos);
  EXPECT_EQ(user_scores(f, "fc_t", 3, 2, Layout::out_in), pos);
  expect_error([&] { user_scores(f, "fc", 2, 3, Layout::in_out); }, "the weight is [2x3]");
  bool any_negative = false;
  for (float v : s.values()) any_negative |= v < 0;
  ASSERT_TRUE(any_negative);
  expect_error([&] { user_scores(f, "neg", 3, 2, Layout::in_out); }, "must be finite and >= 0");
}

TEST(Scores, UnitsCompareByMeanSoEdgeUnitsAreFair) {
  // 5 x 7 in 2 x 3 units: 3 x 3 units, the last row of units 1 element tall, the last
  // column 1 element wide.
  HostMatrix s(5, 7);
  for (std::int64_t k = 0; k < 5; ++k)
    for (std::int64_t n = 0; n < 7; ++n) s.set(k, n, float(k * 7 + n));
  const HostMatrix u = unit_scores(s, 2, 3);
  ASSERT_EQ(u.rows(), 3);
  ASSERT_EQ(u.cols(), 3);
  EXPECT_FLOAT_EQ(u(0, 0), (0 + 1 + 2 + 7 + 8 + 9) / 6.0f);
  EXPECT_FLOAT_EQ(u(0, 2), (6 + 13) / 2.0f);
  EXPECT_FLOAT_EQ(u(2, 2), 34.0f);
  EXPECT_FLOAT_EQ(u(2, 0), (28 + 29 + 30) / 3.0f);
  // A constant matrix scores every unit alike, whatever its size.
  const HostMatrix ones(5, 7, DType::f32, std::vector<float>(35, 1.0f));
  const HostMatrix unit_ones = unit_scores(ones, 2, 3);
  for (float v : unit_ones.values()) EXPECT_FLOAT_EQ(v, 1.0f);
  EXPECT_EQ(unit_scores(HostMatrix(0, 4), 2, 2).rows(), 0);
  expect_error([&] { unit_scores(s, 0, 2); }, "at least 1 x 1");
}

}  // namespace
}  // namespace tilesparse

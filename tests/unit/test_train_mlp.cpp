// MLP trainer: GEMM against a double reference, gradients against finite differences,
// masked training keeps pruned weights at exactly zero, determinism, learning a small
// separable problem, Taylor scores, and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "src/train/gemm.hpp"
#include "tilesparse/core/error.hpp"
#include "tilesparse/train/mlp.hpp"
#include "test_util.hpp"

namespace tilesparse {
namespace {

using GemmFn = void (*)(bool, bool, std::int64_t, std::int64_t, std::int64_t, float, const float*, const float*,
                        float, float*);

void check_gemm(GemmFn fn, bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k) {
  const HostMatrix a = HostMatrix::random(ta ? k : m, ta ? m : k, DType::f32, 1 + m);
  const HostMatrix b = HostMatrix::random(tb ? n : k, tb ? k : n, DType::f32, 2 + n);
  HostMatrix c = HostMatrix::random(m, n, DType::f32, 3 + k);
  const HostMatrix c0 = c;
  fn(ta, tb, m, n, k, 0.5f, a.values().data(), b.values().data(), 2.0f, c.mutable_values().data());
  for (std::int64_t i = 0; i < m; ++i) {
    for (std::int64_t j = 0; j < n; ++j) {
      double want = 2.0 * c0(i, j);
      for (std::int64_t p = 0; p < k; ++p) want += 0.5 * (ta ? a(p, i) : a(i, p)) * (tb ? b(j, p) : b(p, j));
      ASSERT_NEAR(c(i, j), want, 1e-4 * (1 + std::fabs(want))) << "ta=" << ta << " tb=" << tb << " at " << i << "," << j;
    }
  }
}

TEST(TrainGemm, BlockedAndDispatchedMatchReference) {
  for (GemmFn fn : {&detail::sgemm_blocked, &detail::sgemm}) {
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        check_gemm(fn, ta, tb, 7, 5, 3);
        check_gemm(fn, ta, tb, 1, 1, 1);
        check_gemm(fn, ta, tb, 9, 33, 300);  // k spans two cache blocks
        check_gemm(fn, ta, tb, 4, 6, 0);     // empty reduction: C = beta·C
        check_gemm(fn, ta, tb, 0, 6, 5);
      }
    }
  }
}

struct Data {
  HostMatrix x;
  std::vector<std::uint8_t> y;
};

// `classes` Gaussian blobs in `dims` dimensions, centres far apart: linearly separable.
// Samples with different seeds share the centres of the same centre_seed.
Data blobs(std::int64_t n, std::int64_t dims, int classes, std::uint64_t seed, std::uint64_t centre_seed = 99) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<float> noise(0.0f, 0.3f);
  const HostMatrix centres = HostMatrix::random(classes, dims, DType::f32, centre_seed);
  Data d{HostMatrix(n, dims), {}};
  for (std::int64_t i = 0; i < n; ++i) {
    const int c = static_cast<int>(gen() % static_cast<std::uint64_t>(classes));
    d.y.push_back(static_cast<std::uint8_t>(c));
    for (std::int64_t j = 0; j < dims; ++j) d.x.set(i, j, 3.0f * centres(c, j) + noise(gen));
  }
  return d;
}

Mlp tiny_mlp(std::uint64_t seed) {
  const std::vector<std::int64_t> sizes{6, 5, 4, 3};
  Mlp mlp(sizes, seed);
  std::mt19937_64 gen(seed + 7);
  for (auto& l : mlp.layers) {
    for (auto& b : l.bias) b = static_cast<float>(static_cast<double>(gen() % 1000) / 1000.0 - 0.5);
  }
  return mlp;
}

TEST(Mlp, GradientsMatchFiniteDifferences) {
  Mlp mlp = tiny_mlp(3);
  const Data d = blobs(9, 6, 3, 4);
  MlpGradients g;
  loss_and_gradients(mlp, d.x, d.y, g);
  MlpGradients scratch;
  auto loss_at = [&](float& param, float value) {
    const float saved = param;
    param = value;
    const double l = loss_and_gradients(mlp, d.x, d.y, scratch);
    param = saved;
    return l;
  };
  constexpr float kEps = 1e-2f;
  int checked = 0;
  for (std::size_t l = 0; l < mlp.layers.size(); ++l) {
    auto w = mlp.layers[l].w.mutable_values();
    for (std::size_t i = 0; i < w.size(); ++i) {
      const double fd = (loss_at(w[i], w[i] + kEps) - loss_at(w[i], w[i] - kEps)) / (2.0 * kEps);
      EXPECT_NEAR(g.w[l].values()[i], fd, 2e-3 + 2e-2 * std::fabs(fd)) << "layer " << l << " weight " << i;
      ++checked;
    }
    auto& b = mlp.layers[l].bias;
    for (std::size_t i = 0; i < b.size(); ++i) {
      const double fd = (loss_at(b[i], b[i] + kEps) - loss_at(b[i], b[i] - kEps)) / (2.0 * kEps);
      EXPECT_NEAR(g.bias[l][i], fd, 2e-3 + 2e-2 * std::fabs(fd)) << "layer " << l << " bias " << i;
    }
  }
  EXPECT_EQ(checked, 6 * 5 + 5 * 4 + 4 * 3);
}

TEST(Mlp, MaskedWeightsStayExactlyZero) {
  const Data d = blobs(200, 6, 3, 5);
  for (Optimizer opt : {Optimizer::adam, Optimizer::sgd_momentum}) {
    Mlp mlp = tiny_mlp(6);
    TrainOptions o;
    o.epochs = 1;
    o.batch_size = 16;
    o.optimizer = opt;
    o.learning_rate = opt == Optimizer::adam ? 1e-2f : 5e-2f;
    train(mlp, d.x, d.y, o);  // unmasked first: weights move everywhere
    std::vector<Mask> masks;
    for (std::size_t l = 0; l < mlp.layers.size(); ++l) {
      const auto& w = mlp.layers[l].w;
      masks.push_back(test::random_mask(w.rows(), w.cols(), 0.4, 10 + l));
      mlp.set_mask(l, masks.back());
    }
    o.epochs = 3;
    train(mlp, d.x, d.y, o);
    MlpGradients g;
    loss_and_gradients(mlp, d.x, d.y, g);
    for (std::size_t l = 0; l < mlp.layers.size(); ++l) {
      const auto w = mlp.layers[l].w.values();
      int moved = 0;
      for (std::size_t i = 0; i < w.size(); ++i) {
        if (!masks[l].keep[i]) {
          ASSERT_EQ(w[i], 0.0f) << "layer " << l << " pruned weight " << i;
          ASSERT_EQ(g.w[l].values()[i], 0.0f) << "layer " << l << " pruned gradient " << i;
        } else {
          moved += w[i] != 0.0f;
        }
      }
      EXPECT_GT(moved, 0) << "layer " << l << ": kept weights must still train";
    }
  }
}

TEST(Mlp, TrainingIsDeterministicForASeed) {
  const Data d = blobs(150, 6, 3, 8);
  TrainOptions o;
  o.epochs = 2;
  o.batch_size = 10;
  auto run = [&](std::uint64_t seed) {
    Mlp mlp = tiny_mlp(seed);
    o.seed = seed;
    train(mlp, d.x, d.y, o);
    return mlp;
  };
  const Mlp a = run(1), b = run(1), c = run(2);
  for (std::size_t l = 0; l < a.layers.size(); ++l) {
    EXPECT_TRUE(a.layers[l].w == b.layers[l].w) << "layer " << l;
    EXPECT_EQ(a.layers[l].bias, b.layers[l].bias);
  }
  EXPECT_FALSE(a.layers[0].w == c.layers[0].w);
}

TEST(Mlp, LearnsSeparableBlobs) {
  const Data train_set = blobs(600, 10, 4, 11), held = blobs(300, 10, 4, 12);
  const std::vector<std::int64_t> sizes{10, 32, 4};
  Mlp mlp(sizes, 1);
  const double before = accuracy(mlp, held.x, held.y);
  TrainOptions o;
  o.epochs = 5;
  o.batch_size = 32;
  o.learning_rate = 5e-3f;
  int calls = 0;
  o.on_progress = [&](const TrainProgress& p) {
    ++calls;
    EXPECT_GT(p.loss, 0.0);
    EXPECT_LE(p.step, p.steps_per_epoch);
  };
  const double loss = train(mlp, train_set.x, train_set.y, o);
  EXPECT_GT(calls, 0);
  EXPECT_LT(loss, 0.1);
  EXPECT_GE(accuracy(mlp, held.x, held.y), 0.98) << "before training: " << before;
}

TEST(Mlp, TaylorScoresAreSummedSquaredGradientTimesWeight) {
  Mlp mlp = tiny_mlp(12);
  mlp.set_mask(1, test::random_mask(5, 4, 0.5, 13));
  const Data d = blobs(25, 6, 3, 14);
  const auto scores = taylor_scores(mlp, d.x, d.y, 10, 2);  // batches [0,10) and [10,20)
  std::vector<HostMatrix> want;
  for (const auto& l : mlp.layers) want.emplace_back(l.w.rows(), l.w.cols());
  for (std::int64_t lo : {0, 10}) {
    HostMatrix xb(10, 6);
    for (std::int64_t i = 0; i < 10; ++i) {
      for (std::int64_t j = 0; j < 6; ++j) xb.set(i, j, d.x(lo + i, j));
    }
    MlpGradients g;
    loss_and_gradients(mlp, xb, std::span(d.y).subspan(lo, 10), g);
    for (std::size_t l = 0; l < want.size(); ++l) {
      for (std::size_t i = 0; i < want[l].values().size(); ++i) {
        const double gw = static_cast<double>(g.w[l].values()[i]) * mlp.layers[l].w.values()[i];
        want[l].mutable_values()[i] += static_cast<float>(gw * gw);
      }
    }
  }
  for (std::size_t l = 0; l < want.size(); ++l) {
    EXPECT_LE(relative_error(scores[l], want[l]), 1e-5) << "layer " << l;
    for (std::size_t i = 0; i < scores[l].values().size(); ++i) {
      if (l == 1 && !mlp.layers[1].mask.keep[i]) EXPECT_EQ(scores[l].values()[i], 0.0f);
    }
  }
  double total = 0;
  for (auto v : scores[0].values()) total += v;
  EXPECT_GT(total, 0.0);
}

TEST(Mlp, BadInputIsRejected) {
  Mlp mlp = tiny_mlp(1);
  const Data d = blobs(4, 6, 3, 2);
  auto expect_error = [](auto&& f, const std::string& needle) {
    try {
      f();
      FAIL() << "expected an error mentioning " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  MlpGradients g;
  std::vector<std::uint8_t> bad = d.y;
  bad[2] = 3;
  expect_error([&] { loss_and_gradients(mlp, d.x, bad, g); }, "label 2 is 3");
  expect_error([&] { accuracy(mlp, HostMatrix::random(4, 7, DType::f32, 1), d.y); }, "input has 7 features");
  expect_error([&] { mlp.set_mask(0, Mask(5, 6)); }, "mask of layer 0 does not match");
  expect_error([&] { mlp.set_mask(9, Mask(1, 1)); }, "layer 9 of 3");
  const std::vector<std::int64_t> no_layers{5};
  expect_error([&] { Mlp m(no_layers, 1); }, "at least an input and an output");
}

}  // namespace
}  // namespace tilesparse

#include "tilesparse/train/mlp.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>

#include "src/train/gemm.hpp"
#include "tilesparse/core/error.hpp"

namespace tilesparse {
namespace {

// Uniform in [-1, 1) from the top 24 bits, so values do not depend on the standard
// library's distribution implementation.
float uniform_pm1(std::mt19937_64& gen) { return static_cast<float>(gen() >> 40) * (2.0f / 16777216.0f) - 1.0f; }

void check_batch(const Mlp& mlp, const HostMatrix& x, std::span<const std::uint8_t> labels, const char* op) {
  require(!mlp.layers.empty(), op, "the MLP has no layers");
  require(x.cols() == mlp.inputs(), op,
          "input has " + std::to_string(x.cols()) + " features, the MLP takes " + std::to_string(mlp.inputs()),
          shape_str({x.rows(), x.cols()}));
  require(static_cast<std::int64_t>(labels.size()) == x.rows(), op,
          std::to_string(labels.size()) + " labels for " + std::to_string(x.rows()) + " rows");
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] >= mlp.outputs())  // the message is built only on failure
      throw Error(std::string(op), "label " + std::to_string(i) + " is " + std::to_string(labels[i]) +
                                       ", the MLP has " + std::to_string(mlp.outputs()) + " outputs");
  }
}

// Activations of one batch: acts[0] the input, acts[l + 1] layer l's output (after ReLU
// except for the last layer, whose output is the logits).
struct Activations {
  std::vector<std::vector<float>> acts;
};

void forward_batch(const Mlp& mlp, const float* x, std::int64_t m, Activations& a) {
  const std::size_t depth = mlp.layers.size();
  a.acts.resize(depth + 1);
  a.acts[0].assign(x, x + m * mlp.inputs());
  for (std::size_t l = 0; l < depth; ++l) {
    const MlpLayer& layer = mlp.layers[l];
    const std::int64_t k = layer.w.rows(), n = layer.w.cols();
    auto& out = a.acts[l + 1];
    out.resize(static_cast<std::size_t>(m * n));
    for (std::int64_t i = 0; i < m; ++i) std::copy(layer.bias.begin(), layer.bias.end(), out.begin() + i * n);
    detail::sgemm(false, false, m, n, k, 1.0f, a.acts[l].data(), layer.w.values().data(), 1.0f, out.data());
    if (l + 1 < depth) {
      for (auto& v : out) v = std::max(v, 0.0f);
    }
  }
}

// Overwrites the logits with d(mean loss)/d(logits) and returns the mean loss.
double softmax_cross_entropy(std::vector<float>& logits, std::span<const std::uint8_t> labels, std::int64_t classes) {
  const auto m = static_cast<std::int64_t>(labels.size());
  double loss = 0;
  for (std::int64_t i = 0; i < m; ++i) {
    float* z = logits.data() + i * classes;
    const float top = *std::max_element(z, z + classes);
    double sum = 0;
    for (std::int64_t j = 0; j < classes; ++j) sum += std::exp(static_cast<double>(z[j] - top));
    loss += std::log(sum) - static_cast<double>(z[labels[i]] - top);
    for (std::int64_t j = 0; j < classes; ++j) {
      const double p = std::exp(static_cast<double>(z[j] - top)) / sum;
      z[j] = static_cast<float>((p - (j == labels[i] ? 1.0 : 0.0)) / static_cast<double>(m));
    }
  }
  return m ? loss / static_cast<double>(m) : 0.0;
}

void apply_mask_in_place(std::span<float> values, const Mask& mask) {
  if (mask.keep.empty()) return;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!mask.keep[i]) values[i] = 0.0f;
  }
}

double batch_gradients(const Mlp& mlp, const float* x, std::span<const std::uint8_t> labels, Activations& a,
                       MlpGradients& g) {
  const auto m = static_cast<std::int64_t>(labels.size());
  const std::size_t depth = mlp.layers.size();
  forward_batch(mlp, x, m, a);
  g.w.resize(depth);
  g.bias.resize(depth);
  std::vector<float> delta = std::move(a.acts[depth]);
  const double loss = softmax_cross_entropy(delta, labels, mlp.outputs());
  std::vector<float> below;
  for (std::size_t l = depth; l-- > 0;) {
    const MlpLayer& layer = mlp.layers[l];
    const std::int64_t k = layer.w.rows(), n = layer.w.cols();
    if (g.w[l].rows() != k || g.w[l].cols() != n) g.w[l] = HostMatrix(k, n);
    detail::sgemm(true, false, k, n, m, 1.0f, a.acts[l].data(), delta.data(), 0.0f, g.w[l].mutable_values().data());
    apply_mask_in_place(g.w[l].mutable_values(), layer.mask);
    g.bias[l].assign(static_cast<std::size_t>(n), 0.0f);
    for (std::int64_t i = 0; i < m; ++i) {
      for (std::int64_t j = 0; j < n; ++j) g.bias[l][j] += delta[i * n + j];
    }
    if (l == 0) break;
    below.resize(static_cast<std::size_t>(m * k));
    detail::sgemm(false, true, m, k, n, 1.0f, delta.data(), layer.w.values().data(), 0.0f, below.data());
    // ReLU'(pre-activation) is 1 exactly where the stored post-ReLU activation is > 0.
    const auto& act = a.acts[l];
    for (std::size_t i = 0; i < below.size(); ++i) {
      if (act[i] <= 0.0f) below[i] = 0.0f;
    }
    std::swap(delta, below);
  }
  return loss;
}

// Rows `rows` of x gathered into a contiguous batch.
void gather_rows(const HostMatrix& x, std::span<const std::int64_t> rows, std::vector<float>& out) {
  const std::int64_t f = x.cols();
  out.resize(rows.size() * static_cast<std::size_t>(f));
  for (std::size_t i = 0; i < rows.size(); ++i) {
    std::copy_n(x.values().begin() + rows[i] * f, f, out.begin() + static_cast<std::int64_t>(i) * f);
  }
}

class OptimizerState {
 public:
  OptimizerState(const Mlp& mlp, const TrainOptions& o) : o_(o) {
    for (const auto& layer : mlp.layers) {
      m_.emplace_back(layer.w.values().size(), 0.0f);
      m_.emplace_back(layer.bias.size(), 0.0f);
      if (o.optimizer == Optimizer::adam) {
        v_.emplace_back(layer.w.values().size(), 0.0f);
        v_.emplace_back(layer.bias.size(), 0.0f);
      }
    }
  }

  void step(Mlp& mlp, const MlpGradients& g) {
    ++t_;
    for (std::size_t l = 0; l < mlp.layers.size(); ++l) {
      MlpLayer& layer = mlp.layers[l];
      update(layer.w.mutable_values(), g.w[l].values(), 2 * l);
      update(layer.bias, g.bias[l], 2 * l + 1);
      // The gradient was masked already; re-masking the weights keeps them exactly 0
      // even when momentum from before the mask was installed would move them.
      apply_mask_in_place(layer.w.mutable_values(), layer.mask);
    }
  }

 private:
  void update(std::span<float> p, std::span<const float> g, std::size_t slot) {
    auto& m = m_[slot];
    if (o_.optimizer == Optimizer::sgd_momentum) {
      for (std::size_t i = 0; i < p.size(); ++i) {
        m[i] = o_.momentum * m[i] + g[i];
        p[i] -= o_.learning_rate * m[i];
      }
      return;
    }
    constexpr float kBeta1 = 0.9f, kBeta2 = 0.999f, kEps = 1e-8f;
    auto& v = v_[slot];
    const float c1 = 1.0f - std::pow(kBeta1, static_cast<float>(t_));
    const float c2 = 1.0f - std::pow(kBeta2, static_cast<float>(t_));
    const float step = o_.learning_rate * std::sqrt(c2) / c1;
    for (std::size_t i = 0; i < p.size(); ++i) {
      m[i] = kBeta1 * m[i] + (1.0f - kBeta1) * g[i];
      v[i] = kBeta2 * v[i] + (1.0f - kBeta2) * g[i] * g[i];
      p[i] -= step * m[i] / (std::sqrt(v[i]) + kEps);
    }
  }

  TrainOptions o_;
  std::vector<std::vector<float>> m_, v_;
  std::int64_t t_ = 0;
};

}  // namespace

Mlp::Mlp(std::span<const std::int64_t> sizes, std::uint64_t seed) {
  require(sizes.size() >= 2, "Mlp", "needs at least an input and an output size");
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    require(sizes[i] >= 1, "Mlp", "layer size " + std::to_string(i) + " is " + std::to_string(sizes[i]));
  }
  std::mt19937_64 gen(seed);
  for (std::size_t l = 0; l + 1 < sizes.size(); ++l) {
    MlpLayer layer{HostMatrix(sizes[l], sizes[l + 1]), std::vector<float>(static_cast<std::size_t>(sizes[l + 1]), 0.0f), {}};
    // He-uniform: keeps the ReLU activations' variance steady through the layers.
    const float limit = std::sqrt(6.0f / static_cast<float>(sizes[l]));
    for (auto& w : layer.w.mutable_values()) w = limit * uniform_pm1(gen);
    layers.push_back(std::move(layer));
  }
}

std::int64_t Mlp::inputs() const { return layers.empty() ? 0 : layers.front().w.rows(); }
std::int64_t Mlp::outputs() const { return layers.empty() ? 0 : layers.back().w.cols(); }

void Mlp::set_mask(std::size_t layer, Mask mask) {
  require(layer < layers.size(), "Mlp::set_mask",
          "layer " + std::to_string(layer) + " of " + std::to_string(layers.size()));
  MlpLayer& l = layers[layer];
  require(mask.rows == l.w.rows() && mask.cols == l.w.cols() &&
              mask.keep.size() == static_cast<std::size_t>(l.w.size()),
          "Mlp::set_mask", "mask of layer " + std::to_string(layer) + " does not match its weight",
          shape_str({mask.rows, mask.cols}) + " vs " + shape_str({l.w.rows(), l.w.cols()}));
  l.mask = std::move(mask);
  apply_mask_in_place(l.w.mutable_values(), l.mask);
}

HostMatrix Mlp::forward(const HostMatrix& x) const {
  require(!layers.empty() && x.cols() == inputs(), "Mlp::forward",
          "input has " + std::to_string(x.cols()) + " features, the MLP takes " + std::to_string(inputs()));
  Activations a;
  forward_batch(*this, x.values().data(), x.rows(), a);
  return HostMatrix(x.rows(), outputs(), DType::f32, std::move(a.acts.back()));
}

double loss_and_gradients(const Mlp& mlp, const HostMatrix& x, std::span<const std::uint8_t> labels,
                          MlpGradients& grads) {
  check_batch(mlp, x, labels, "loss_and_gradients");
  Activations a;
  return batch_gradients(mlp, x.values().data(), labels, a, grads);
}

double train(Mlp& mlp, const HostMatrix& x, std::span<const std::uint8_t> labels, const TrainOptions& o) {
  check_batch(mlp, x, labels, "train");
  require(o.batch_size >= 1 && o.epochs >= 0 && o.learning_rate > 0, "train",
          "needs batch_size >= 1, epochs >= 0 and a positive learning rate");
  const std::int64_t n = x.rows();
  const std::int64_t steps = (n + o.batch_size - 1) / o.batch_size;
  OptimizerState opt(mlp, o);
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::vector<float> xb;
  std::vector<std::uint8_t> yb;
  Activations a;
  MlpGradients g;
  double epoch_loss = 0;
  for (int e = 0; e < o.epochs; ++e) {
    std::iota(order.begin(), order.end(), 0);
    std::mt19937_64 gen(o.seed * 1000003u + static_cast<std::uint64_t>(e));
    // Fisher-Yates with our own index draw: the order must not depend on the standard
    // library's shuffle implementation.
    for (std::int64_t i = n - 1; i > 0; --i) std::swap(order[i], order[gen() % static_cast<std::uint64_t>(i + 1)]);
    double sum = 0;
    for (std::int64_t s = 0; s < steps; ++s) {
      const std::int64_t lo = s * o.batch_size, hi = std::min(n, lo + o.batch_size);
      const std::span<const std::int64_t> rows(order.data() + lo, static_cast<std::size_t>(hi - lo));
      gather_rows(x, rows, xb);
      yb.resize(rows.size());
      for (std::size_t i = 0; i < rows.size(); ++i) yb[i] = labels[rows[i]];
      sum += batch_gradients(mlp, xb.data(), yb, a, g);
      opt.step(mlp, g);
      if (o.on_progress && ((s + 1) % std::max<std::int64_t>(o.progress_every, 1) == 0 || s + 1 == steps)) {
        o.on_progress({e, o.epochs, s + 1, steps, sum / static_cast<double>(s + 1)});
      }
    }
    epoch_loss = steps ? sum / static_cast<double>(steps) : 0.0;
  }
  return epoch_loss;
}

double accuracy(const Mlp& mlp, const HostMatrix& x, std::span<const std::uint8_t> labels) {
  check_batch(mlp, x, labels, "accuracy");
  if (x.rows() == 0) return 0.0;
  constexpr std::int64_t kChunk = 1000;  // bounds the activation memory
  std::int64_t correct = 0;
  Activations a;
  const std::int64_t classes = mlp.outputs();
  for (std::int64_t lo = 0; lo < x.rows(); lo += kChunk) {
    const std::int64_t m = std::min(kChunk, x.rows() - lo);
    forward_batch(mlp, x.values().data() + lo * x.cols(), m, a);
    const auto& z = a.acts.back();
    for (std::int64_t i = 0; i < m; ++i) {
      const auto row = z.begin() + i * classes;
      correct += (std::max_element(row, row + classes) - row) == labels[lo + i];
    }
  }
  return static_cast<double>(correct) / static_cast<double>(x.rows());
}

std::vector<HostMatrix> taylor_scores(const Mlp& mlp, const HostMatrix& x, std::span<const std::uint8_t> labels,
                                      std::int64_t batch_size, std::int64_t max_batches) {
  check_batch(mlp, x, labels, "taylor_scores");
  require(batch_size >= 1 && max_batches >= 1, "taylor_scores", "needs batch_size >= 1 and max_batches >= 1");
  std::vector<HostMatrix> scores;
  for (const auto& layer : mlp.layers) scores.emplace_back(layer.w.rows(), layer.w.cols());
  Activations a;
  MlpGradients g;
  const std::int64_t batches = std::min(max_batches, (x.rows() + batch_size - 1) / batch_size);
  for (std::int64_t b = 0; b < batches; ++b) {
    const std::int64_t lo = b * batch_size, hi = std::min(x.rows(), lo + batch_size);
    batch_gradients(mlp, x.values().data() + lo * x.cols(), labels.subspan(lo, hi - lo), a, g);
    for (std::size_t l = 0; l < mlp.layers.size(); ++l) {
      auto s = scores[l].mutable_values();
      auto w = mlp.layers[l].w.values();
      auto gw = g.w[l].values();
      for (std::size_t i = 0; i < s.size(); ++i) {
        const double gw_i = static_cast<double>(gw[i]) * w[i];
        s[i] += static_cast<float>(gw_i * gw_i);
      }
    }
  }
  return scores;
}

}  // namespace tilesparse

#pragma once
// A small multilayer perceptron trainer on the CPU: fully connected layers with ReLU
// between them, softmax cross-entropy, mini-batch SGD with momentum or Adam. It exists
// to measure how much accuracy a sparsity pattern keeps (the accuracy study and the
// demo), so it supports what pruning needs:
//  - masked training (the ASP recipe): a layer's keep-mask zeroes its pruned weights and
//    their gradients, and is re-applied after every step, so pruned weights stay exactly 0;
//  - first-order Taylor importance: (g * w)^2 summed over batches, per weight element.
// Weights are K x N (in_out, DESIGN.md §1): layer l computes y = x·w + bias.
// GEMMs go to CBLAS sgemm (OpenBLAS) when the library was built with it, else to a
// blocked loop. Everything is deterministic for a seed (given the same BLAS threads).
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "tilesparse/core/matrix.hpp"

namespace tilesparse {

struct MlpLayer {
  HostMatrix w;             // K x N, f32
  std::vector<float> bias;  // N
  Mask mask;                // K x N keep-mask; 0 x 0 means dense (nothing pruned)
};

struct Mlp {
  std::vector<MlpLayer> layers;

  Mlp() = default;
  // sizes = {inputs, hidden..., outputs} (at least 2 entries, each >= 1). He-uniform
  // weights, zero biases, deterministic for the seed.
  Mlp(std::span<const std::int64_t> sizes, std::uint64_t seed);

  std::int64_t inputs() const;
  std::int64_t outputs() const;
  // Installs a keep-mask (K x N of that layer, Error otherwise) and zeroes the pruned weights.
  void set_mask(std::size_t layer, Mask mask);
  // Logits (M x outputs) of x (M x inputs).
  HostMatrix forward(const HostMatrix& x) const;
};

// Per-layer gradients of the mean loss, shaped like the layers; masked positions are 0.
struct MlpGradients {
  std::vector<HostMatrix> w;
  std::vector<std::vector<float>> bias;
};

// Mean softmax cross-entropy of the batch (x: M x inputs, labels: M, each < outputs) and
// its gradients.
double loss_and_gradients(const Mlp& mlp, const HostMatrix& x, std::span<const std::uint8_t> labels,
                          MlpGradients& grads);

enum class Optimizer : std::uint8_t { sgd_momentum, adam };

struct TrainProgress {
  int epoch = 0;  // 0-based
  int epochs = 0;
  std::int64_t step = 0;  // within the epoch, 1-based
  std::int64_t steps_per_epoch = 0;
  double loss = 0;  // mean loss of the batches of this epoch so far
};

struct TrainOptions {
  int epochs = 1;
  std::int64_t batch_size = 128;
  Optimizer optimizer = Optimizer::adam;
  float learning_rate = 1e-3f;
  float momentum = 0.9f;  // sgd_momentum only
  std::uint64_t seed = 1;  // shuffling order
  // Called every `progress_every` steps and at the end of each epoch.
  std::function<void(const TrainProgress&)> on_progress;
  std::int64_t progress_every = 50;
};

// Trains in place (fresh optimizer state for each call); returns the last epoch's mean loss.
double train(Mlp& mlp, const HostMatrix& x, std::span<const std::uint8_t> labels, const TrainOptions& options);

// Share of rows whose largest logit is the label.
double accuracy(const Mlp& mlp, const HostMatrix& x, std::span<const std::uint8_t> labels);

// First-order Taylor importance per weight: the sum over the first `max_batches` batches
// of (g * w)^2, g the batch's mean-loss gradient. One K x N matrix per layer.
std::vector<HostMatrix> taylor_scores(const Mlp& mlp, const HostMatrix& x, std::span<const std::uint8_t> labels,
                                      std::int64_t batch_size, std::int64_t max_batches);

}  // namespace tilesparse

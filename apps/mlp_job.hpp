#pragma once
// What the demo and the study share: the Fashion-MNIST data, the dense MLP (trained with
// progress output, or loaded from a cache file), and pruning runs described by flags.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "tilesparse/io/idx.hpp"
#include "tilesparse/train/prune_mlp.hpp"

namespace tilesparse::cli {

struct DenseArgs {
  std::string data_dir = kFashionMnistDir;
  std::vector<std::int64_t> hidden{1024, 1024};
  int epochs = 6;
  float learning_rate = 1e-3f;
  std::int64_t batch_size = 128;
  std::uint64_t seed = 1;
  std::string cache;  // load the dense MLP from here when it exists, else train and save it

  void add_to(CLI::App& cmd);
};

struct FinetuneArgs {
  int stages = 2;
  int epochs_per_stage = 1;
  float learning_rate = 5e-4f;
  std::string score = "magnitude";
  bool global_ranking = true;
  double layer_ceiling = MlpPruneOptions{}.layer_ceiling;

  void add_to(CLI::App& cmd);
  // Options for prune_mlp with these flags; spec and sparsity are the caller's.
  MlpPruneOptions options(const DenseArgs& dense) const;
};

// The dense MLP: loaded from args.cache when that file exists, else trained (printing
// progress to `log`) and, when args.cache is set, saved there.
Mlp dense_mlp(const DenseArgs& args, const FashionMnist& data, std::ostream& log);

// A TrainOptions progress callback that rewrites one status line on `log`.
std::function<void(const TrainProgress&)> progress_printer(std::ostream& log, std::string what);

}  // namespace tilesparse::cli

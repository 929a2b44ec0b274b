#include "apps/mlp_job.hpp"

#include <chrono>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "tilesparse/core/error.hpp"

namespace tilesparse::cli {

void DenseArgs::add_to(CLI::App& cmd) {
  cmd.add_option("--data", data_dir, "Folder of the Fashion-MNIST IDX files (plain or .gz)")->capture_default_str();
  cmd.add_option("--hidden", hidden, "Hidden layer widths")->capture_default_str();
  cmd.add_option("--epochs", epochs, "Dense training epochs")->capture_default_str();
  cmd.add_option("--lr", learning_rate, "Adam learning rate of the dense training")->capture_default_str();
  cmd.add_option("--batch", batch_size, "Mini-batch size")->capture_default_str();
  cmd.add_option("--seed", seed, "Seed of the initial weights and the batch order")->capture_default_str();
  cmd.add_option("--dense", cache,
                 "Dense model file (safetensors): loaded when it exists, else written after training");
}

void FinetuneArgs::add_to(CLI::App& cmd) {
  cmd.add_option("--stages", stages, "Pruning stages (sparsity ramps up; nm and 24 use one)")->capture_default_str();
  cmd.add_option("--ft-epochs", epochs_per_stage, "Fine-tuning epochs after each stage")->capture_default_str();
  cmd.add_option("--ft-lr", learning_rate, "Adam learning rate while fine-tuning")->capture_default_str();
  cmd.add_option("--score", score, "Importance score: magnitude or taylor")->capture_default_str();
  cmd.add_flag("!--per-layer", global_ranking,
               "Give every pruned layer the target sparsity (default: one global ranking across them)");
  cmd.add_option("--layer-ceiling", layer_ceiling, "Global ranking: most sparsity one layer may get")
      ->capture_default_str();
}

MlpPruneOptions FinetuneArgs::options(const DenseArgs& dense) const {
  require(score == "magnitude" || score == "taylor", "--score", "'" + score + "' is not magnitude or taylor");
  MlpPruneOptions o;
  o.stages = stages;
  o.epochs_per_stage = epochs_per_stage;
  o.score = score == "taylor" ? ImportanceScore::taylor : ImportanceScore::magnitude;
  o.global_ranking = global_ranking;
  o.layer_ceiling = layer_ceiling;
  o.finetune.learning_rate = learning_rate;
  o.finetune.batch_size = dense.batch_size;
  o.finetune.seed = dense.seed;
  return o;
}

std::function<void(const TrainProgress&)> progress_printer(std::ostream& log, std::string what) {
  auto start = std::chrono::steady_clock::now();
  return [&log, what, start](const TrainProgress& p) {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    log << "\r  " << what << ": epoch " << p.epoch + 1 << "/" << p.epochs << ", step " << p.step << "/"
        << p.steps_per_epoch << ", loss " << std::fixed << std::setprecision(4) << p.loss << ", " << std::setprecision(1)
        << s << " s   " << std::defaultfloat << std::flush;
    if (p.step == p.steps_per_epoch && p.epoch + 1 == p.epochs) log << "\n";
  };
}

namespace {

// User metadata key of a saved dense MLP: the settings it was trained with.
constexpr const char* kDenseTrainingKey = "dense_training";

std::string join_sizes(const std::vector<std::int64_t>& sizes) {
  std::string s;
  for (std::size_t i = 0; i < sizes.size(); ++i) s += (i ? "-" : "") + std::to_string(sizes[i]);
  return s;
}

// The settings besides the layer sizes that make a dense MLP what it is.
std::string training_settings(const DenseArgs& args) {
  std::ostringstream s;
  s << "epochs " << args.epochs << ", lr " << args.learning_rate << ", batch " << args.batch_size << ", seed "
    << args.seed;
  return s.str();
}

}  // namespace

Mlp dense_mlp(const DenseArgs& args, const FashionMnist& data, std::ostream& log) {
  std::vector<std::int64_t> sizes{data.train.images.cols()};
  sizes.insert(sizes.end(), args.hidden.begin(), args.hidden.end());
  sizes.push_back(data.train.num_classes);
  if (!args.cache.empty() && std::filesystem::exists(args.cache)) {
    // A file written by an earlier run is reused only for the same model: its layer
    // sizes, and the training settings it records (a file without them, e.g. one made
    // elsewhere, is taken on its sizes alone).
    const Model model = load_model(args.cache);
    Mlp mlp = mlp_from_model(model);
    std::vector<std::int64_t> found{mlp.inputs()};
    for (const MlpLayer& layer : mlp.layers) found.push_back(layer.w.cols());
    require(found == sizes, "dense model",
            args.cache + " is a " + join_sizes(found) + " MLP, this run asks for " + join_sizes(sizes) +
                " (--hidden and the data); train it again under another --dense file, or remove this one");
    const auto recorded = model.metadata.find(kDenseTrainingKey);
    if (recorded != model.metadata.end()) {
      require(recorded->second == training_settings(args), "dense model",
              args.cache + " was trained with " + recorded->second + ", this run asks for " + training_settings(args) +
                  "; train it again under another --dense file, or remove this one");
    }
    log << "loaded the dense " << join_sizes(found) << " MLP from " << args.cache
        << (recorded != model.metadata.end() ? " (trained with " + recorded->second + ")" : " (training settings not recorded)")
        << "\n";
    return mlp;
  }
  Mlp mlp(sizes, args.seed);
  TrainOptions o;
  o.epochs = args.epochs;
  o.batch_size = args.batch_size;
  o.learning_rate = args.learning_rate;
  o.seed = args.seed;
  o.on_progress = progress_printer(log, "dense training");
  train(mlp, data.train.images, data.train.labels, o);
  if (!args.cache.empty()) {
    Model model = mlp_to_model(mlp, nullptr);
    model.metadata[kDenseTrainingKey] = training_settings(args);
    save_model(args.cache, model);
    log << "saved the dense MLP to " << args.cache << "\n";
  }
  return mlp;
}

}  // namespace tilesparse::cli

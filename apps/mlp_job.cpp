#include "apps/mlp_job.hpp"

#include <chrono>
#include <filesystem>
#include <iomanip>
#include <iostream>

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

Mlp dense_mlp(const DenseArgs& args, const FashionMnist& data, std::ostream& log) {
  if (!args.cache.empty() && std::filesystem::exists(args.cache)) {
    Mlp mlp = mlp_from_model(load_model(args.cache));
    require(mlp.inputs() == data.train.images.cols() && mlp.outputs() == data.train.num_classes, "dense model",
            args.cache + " does not take " + std::to_string(data.train.images.cols()) + " inputs to " +
                std::to_string(data.train.num_classes) + " classes");
    log << "loaded the dense MLP from " << args.cache << "\n";
    return mlp;
  }
  std::vector<std::int64_t> sizes{data.train.images.cols()};
  sizes.insert(sizes.end(), args.hidden.begin(), args.hidden.end());
  sizes.push_back(data.train.num_classes);
  Mlp mlp(sizes, args.seed);
  TrainOptions o;
  o.epochs = args.epochs;
  o.batch_size = args.batch_size;
  o.learning_rate = args.learning_rate;
  o.seed = args.seed;
  o.on_progress = progress_printer(log, "dense training");
  train(mlp, data.train.images, data.train.labels, o);
  if (!args.cache.empty()) {
    save_model(args.cache, mlp_to_model(mlp, nullptr));
    log << "saved the dense MLP to " << args.cache << "\n";
  }
  return mlp;
}

}  // namespace tilesparse::cli

// tilesparse demo: the main job. Train (or load) a dense MLP on Fashion-MNIST, prune it
// to a pattern with fine-tuning (default TW G=128 at 75%), and print what the pattern
// costs in accuracy and saves in bytes.
#include <chrono>
#include <iomanip>
#include <iostream>
#include <memory>

#include "apps/commands.hpp"
#include "apps/gpu_speed.hpp"
#include "apps/mlp_job.hpp"
#include "apps/pattern_options.hpp"
#include "apps/table.hpp"
#include "tilesparse/core/error.hpp"

namespace tilesparse::cli {

namespace {

struct DemoArgs {
  DenseArgs dense;
  FinetuneArgs finetune;
  PatternOptions pattern;
  std::string save;
};

void run_demo(DemoArgs args) {
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  if (args.pattern.pattern.empty()) {
    args.pattern.pattern = "tw";
    if (!args.pattern.sparsity) args.pattern.sparsity = 0.75;
  }
  const PatternSpec spec = args.pattern.spec();
  std::cout << "loading Fashion-MNIST from " << args.dense.data_dir << "\n";
  const FashionMnist data = load_fashion_mnist(args.dense.data_dir);
  std::cout << "  " << data.train.images.rows() << " training and " << data.test.images.rows() << " test images of "
            << data.train.rows << "x" << data.train.cols << "\n";

  Mlp mlp = dense_mlp(args.dense, data, std::cout);
  const double dense_acc = accuracy(mlp, data.test.images, data.test.labels);
  std::cout << "dense test accuracy " << percent(dense_acc) << "\n\n";

  MlpPruneOptions o = args.finetune.options(args.dense);
  o.spec = spec;
  o.sparsity = args.pattern.sparsity;
  o.finetune.on_progress = progress_printer(std::cout, "pruning to " + spec.describe() + " + fine-tuning");
  const MlpPruneReport report = prune_mlp(mlp, data.train.images, data.train.labels, o);
  const double pruned_acc = accuracy(mlp, data.test.images, data.test.labels);

  Table layers({"layer", "K x N", "pattern", "sparsity", "dense bytes", "pruned bytes"});
  std::size_t dense_bytes = 0, pruned_bytes = 0;
  for (const auto& l : report.layers) {
    layers.add({"fc" + std::to_string(l.layer + 1), std::to_string(l.k) + " x " + std::to_string(l.n), spec.describe(),
                percent(l.sparsity), human_bytes(l.dense_bytes), human_bytes(l.pruned_bytes)});
    dense_bytes += l.dense_bytes;
    pruned_bytes += l.pruned_bytes;
  }
  std::cout << "\n";
  layers.print(std::cout);
  std::cout << "\n";
  Table summary({"model", "test accuracy", "pruned-layer bytes"});
  summary.add({"dense", percent(dense_acc), human_bytes(dense_bytes)});
  summary.add({spec.describe(), percent(pruned_acc), human_bytes(pruned_bytes)});
  summary.print(std::cout);
  std::cout << std::fixed << std::setprecision(2) << "\naccuracy change " << std::showpos
            << (pruned_acc - dense_acc) * 100 << std::noshowpos
            << " points; bytes saved " << human_bytes(dense_bytes - std::min(dense_bytes, pruned_bytes)) << " ("
            << percent(dense_bytes ? 1.0 - static_cast<double>(pruned_bytes) / dense_bytes : 0.0)
            << " of the pruned layers; the classifier stays dense)\n";
  // Training and evaluation run on the CPU; the pruned layers are timed on the GPU when
  // there is one, at the test-set batch.
  const Model model = mlp_to_model(mlp, &report);
  std::vector<std::pair<std::string, Weight>> pruned_layers;
  for (const auto& l : report.layers) {
    const std::string name = "fc" + std::to_string(l.layer + 1);
    for (const auto& [wname, w] : model.weights)
      if (wname.rfind(name, 0) == 0 && pattern_of(w) != Pattern::dense) pruned_layers.emplace_back(name, w);
  }
  std::cout << "\n";
  print_gpu_speed(pruned_layers, data.test.images.rows(), std::cout);
  if (!args.save.empty()) {
    save_model(args.save, model);
    std::cout << "saved the pruned model to " << args.save << " (tilesparse inspect --check " << args.save << ")\n";
  }
  std::cout << "done in " << std::setprecision(1) << std::chrono::duration<double>(clock::now() - start).count()
            << " s\n";
}

}  // namespace

void add_demo_command(CLI::App& app) {
  auto args = std::make_shared<DemoArgs>();
  CLI::App* cmd = app.add_subcommand(
      "demo", "Train (or load) a dense MLP on Fashion-MNIST, prune it to a pattern with fine-tuning, compare");
  args->dense.add_to(*cmd);
  args->finetune.add_to(*cmd);
  args->pattern.add_to(*cmd);
  cmd->get_option("--pattern")->required(false)->description("Sparsity pattern (default tw with --g 128, 75%)");
  cmd->add_option("--save", args->save, "Write the pruned model here (safetensors)");
  cmd->callback([args] { run_demo(*args); });
}

}  // namespace tilesparse::cli

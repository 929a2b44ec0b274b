// tilesparse study: the accuracy study of issue 6. One dense MLP, then for every pattern
// and sparsity of the study: prune in stages with fine-tuning from the dense weights,
// and record test accuracy. Writes JSON lines (one per run, appended as each finishes)
// and prints a markdown table.
#include <chrono>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "apps/commands.hpp"
#include "apps/mlp_job.hpp"
#include "tilesparse/core/error.hpp"

namespace tilesparse::cli {

namespace {

struct StudyRun {
  std::string name;  // "tw-g128", "24-perm"
  std::string pattern;
  std::map<std::string, std::string> params;
  std::optional<double> sparsity;
  bool permute = false;
  double apriori_share = 0;  // tw: apriori tuning, per-layer targets (prune_mlp.hpp)
};

// The patterns and sparsities of issue 6; nm/24 fix their sparsity (N:M).
std::vector<StudyRun> study_runs(const std::vector<double>& levels) {
  // The control: the dense model fine-tuned for as many epochs as the pruned ones get, so
  // a pruned run's gain or loss is not the extra training.
  std::vector<StudyRun> runs{{"dense-ft", "dense", {}, 0.0}};
  for (double s : levels) runs.push_back({"ew", "ew", {}, s});
  runs.push_back({"nm-8:16", "nm", {{"n", "8"}, {"m", "16"}}, std::nullopt});
  runs.push_back({"nm-4:16", "nm", {{"n", "4"}, {"m", "16"}}, std::nullopt});
  for (double s : levels) runs.push_back({"bw-32x32", "bw", {{"bk", "32"}, {"bn", "32"}}, s});
  for (const char* g : {"32", "64", "128"}) {
    for (double s : levels) runs.push_back({std::string("tw-g") + g, "tw", {{"g", g}}, s});
  }
  // Apriori tuning (paper's Algorithm 2): 5% of columns and of tile rows each pruned first
  // / protected, as EW at the same sparsity ranks them; per-layer targets.
  for (double s : levels) runs.push_back({"tw-g128-apriori", "tw", {{"g", "128"}}, s, false, 0.05});
  for (double s : levels) runs.push_back({"tew-g128-d5", "tew", {{"g", "128"}, {"delta", "0.05"}}, s});
  runs.push_back({"24", "24", {}, std::nullopt});
  runs.push_back({"24-perm", "24", {}, std::nullopt, true});
  return runs;
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::ostringstream os;
  os << std::put_time(std::gmtime(&t), "%Y-%m-%dT%H:%M:%SZ");
  return os.str();
}

struct StudyArgs {
  DenseArgs dense;
  FinetuneArgs finetune;
  std::string out = "bench/results/accuracy.jsonl";
  std::vector<std::string> only;
  std::vector<double> levels{0.5, 0.75, 0.9};
};

void run_study(const StudyArgs& args) {
  const FashionMnist data = load_fashion_mnist(args.dense.data_dir);
  const Mlp dense = dense_mlp(args.dense, data, std::cerr);
  const double dense_acc = accuracy(dense, data.test.images, data.test.labels);
  std::string model = std::to_string(dense.inputs());
  for (const auto& l : dense.layers) model += "-" + std::to_string(l.w.cols());

  std::ofstream out(args.out, std::ios::trunc);
  require(out.good(), "study", "cannot write " + args.out);
  nlohmann::json common = {{"suite", "accuracy"},   {"dataset", "fashion-mnist"}, {"model", model},
                           {"seed", args.dense.seed}, {"dense_epochs", args.dense.epochs},
                           {"stages", args.finetune.stages}, {"epochs_per_stage", args.finetune.epochs_per_stage},
                           {"ft_lr", args.finetune.learning_rate}, {"score", args.finetune.score},
                           {"ranking", args.finetune.global_ranking ? "global" : "per-layer"}, {"layer_ceiling", args.finetune.layer_ceiling}};
  auto emit = [&](const nlohmann::json& row) {
    nlohmann::json merged = common;
    merged.update(row);  // a run's own fields (e.g. its ranking) win over the common ones
    merged["date"] = utc_now();
    out << merged.dump() << "\n" << std::flush;
  };
  emit({{"pattern", "dense"}, {"name", "dense"}, {"params", nlohmann::json::object()}, {"sparsity", 0.0},
        {"accuracy", dense_acc}, {"dense_accuracy", dense_acc}, {"delta_points", 0.0}});
  std::cout << "| run | pattern | target | achieved | accuracy | vs dense (points) |\n|---|---|---|---|---|---|\n";
  std::cout << "| dense | dense | 0 | 0 | " << std::fixed << std::setprecision(2) << dense_acc * 100 << " | 0.00 |\n"
            << std::flush;
  for (const StudyRun& run : study_runs(args.levels)) {
    if (!args.only.empty() && std::find(args.only.begin(), args.only.end(), run.name) == args.only.end()) continue;
    const auto start = std::chrono::steady_clock::now();
    Mlp mlp = dense;
    MlpPruneOptions o = args.finetune.options(args.dense);
    o.spec = PatternSpec::from_params(run.pattern, run.params);
    o.sparsity = run.sparsity;
    o.permute = run.permute;
    o.apriori_share = run.apriori_share;
    std::ostringstream label;
    label << run.name << (run.sparsity ? " @ " + std::to_string(static_cast<int>(*run.sparsity * 100)) + "%" : "");
    o.finetune.on_progress = progress_printer(std::cerr, label.str());
    const MlpPruneReport r = prune_mlp(mlp, data.train.images, data.train.labels, o);
    const double acc = accuracy(mlp, data.test.images, data.test.labels);
    std::int64_t pruned = 0, total = 0;
    std::size_t dense_bytes = 0, pruned_bytes = 0;
    nlohmann::json layers = nlohmann::json::array();
    for (const auto& l : r.layers) {
      total += l.k * l.n;
      pruned += static_cast<std::int64_t>(std::llround(l.sparsity * static_cast<double>(l.k * l.n)));
      dense_bytes += l.dense_bytes;
      pruned_bytes += l.pruned_bytes;
      nlohmann::json lj = {{"layer", "fc" + std::to_string(l.layer + 1)}, {"k", l.k}, {"n", l.n},
                           {"sparsity", l.sparsity}, {"bytes", l.pruned_bytes}, {"dense_bytes", l.dense_bytes}};
      if (l.permutation_efficacy) lj["permutation_efficacy"] = *l.permutation_efficacy;
      layers.push_back(lj);
    }
    const double achieved = total ? static_cast<double>(pruned) / static_cast<double>(total) : 0.0;
    const double target = run.sparsity.value_or(1.0 - static_cast<double>(o.spec.pattern == Pattern::sp24 ? 2 : o.spec.keep) /
                                                          (o.spec.pattern == Pattern::sp24 ? 4 : o.spec.group));
    emit({{"pattern", run.pattern}, {"name", run.name}, {"params", o.spec.params()}, {"permute", run.permute},
          {"ranking", o.apriori_share > 0 ? "per-layer" : common["ranking"]}, {"apriori_share", o.apriori_share},
          {"target_sparsity", target}, {"sparsity", achieved}, {"accuracy", acc}, {"dense_accuracy", dense_acc},
          {"delta_points", (acc - dense_acc) * 100}, {"bytes", pruned_bytes}, {"dense_bytes", dense_bytes},
          {"layers", layers},
          {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()}});
    std::cout << "| " << run.name << " | " << o.spec.describe() << " | " << std::setprecision(3) << target << " | "
              << achieved << " | " << std::setprecision(2) << acc * 100 << " | " << std::showpos
              << (acc - dense_acc) * 100 << std::noshowpos << " |\n"
              << std::flush;
  }
}

}  // namespace

void add_study_command(CLI::App& app) {
  auto args = std::make_shared<StudyArgs>();
  CLI::App* cmd = app.add_subcommand(
      "study", "Accuracy study on Fashion-MNIST: every pattern and sparsity, staged pruning with fine-tuning");
  args->dense.add_to(*cmd);
  args->finetune.add_to(*cmd);
  cmd->add_option("--out", args->out, "JSON lines output (overwritten)")->capture_default_str();
  cmd->add_option("--only", args->only, "Run only these study runs (ew, nm-4:16, bw-32x32, tw-g128, tew-g128-d5, 24-perm, ...)");
  cmd->add_option("--levels", args->levels, "Sparsities of the patterns that take one")->capture_default_str();
  cmd->callback([args] { run_study(*args); });
}

}  // namespace tilesparse::cli

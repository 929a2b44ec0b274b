// tilesparse prune MODEL -o OUT --pattern P ...: the pruning engine on a whole model:
// magnitude or user-supplied scores, one layer at a time or under one global ranking,
// optional N:M channel permutations. Prints a per-layer table.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <set>

#include "apps/commands.hpp"
#include "apps/pattern_options.hpp"
#include "apps/table.hpp"
#include "tilesparse/core/error.hpp"
#include "tilesparse/io/model.hpp"
#include "tilesparse/prune/global.hpp"
#include "tilesparse/prune/permutation.hpp"
#include "tilesparse/prune/project.hpp"
#include "tilesparse/prune/scores.hpp"

namespace tilesparse::cli {

namespace {

constexpr const char* kOp = "prune";

struct PruneArgs {
  std::string in, out, scores;
  PatternOptions pattern;
  std::string layout = "out_in";
  bool global = false;
  double layer_ceiling = 1.0;
  bool permute = false;
  std::vector<std::string> exclude;
};

struct Layer {
  std::string name;
  HostMatrix weight;  // K x N (permuted when --permute)
  HostMatrix scores;
  bool exclude = false;
  std::optional<PermutationResult> permutation;
};

double magnitude(const HostMatrix& m) {
  double s = 0;
  for (float v : m.values()) s += std::fabs(static_cast<double>(v));
  return s;
}

// "[=====     ] 3/12 name" on stderr, redrawn in place; only for a terminal, so logs and
// pipes stay clean.
class Progress {
 public:
  Progress(std::string what, std::size_t total) : what_(std::move(what)), total_(total), tty_(isatty(2) != 0) {}
  void step(std::size_t done, const std::string& name) const {
    if (!tty_) return;
    constexpr std::size_t width = 30;
    const std::size_t filled = total_ == 0 ? width : done * width / total_;
    std::fprintf(stderr, "\r%s [%s%s] %zu/%zu %-40.40s", what_.c_str(), std::string(filled, '=').c_str(),
                 std::string(width - filled, ' ').c_str(), done, total_, name.c_str());
    std::fflush(stderr);
  }
  void done() const {
    if (tty_) std::fprintf(stderr, "\r%*s\r", 100, "");
  }

 private:
  std::string what_;
  std::size_t total_;
  bool tty_;
};

std::vector<Layer> collect_layers(const Model& model, const PruneArgs& args, Layout layout) {
  const std::set<std::string> excluded(args.exclude.begin(), args.exclude.end());
  std::vector<Layer> layers;
  for (const auto& [name, t] : model.others)
    if (t.shape.size() == 2 && is_float(t.type))
      layers.push_back({name, weight_matrix(t, layout, name), {}, excluded.count(name) > 0, {}});
  for (const auto& [name, w] : model.weights) {
    if (const auto* d = std::get_if<DenseWeight>(&w)) layers.push_back({name, d->w, {}, excluded.count(name) > 0, {}});
    else std::cout << "skipping " << name << ": already " << spec_of(w).describe() << "\n";
  }
  for (const auto& name : excluded)
    require(std::any_of(layers.begin(), layers.end(), [&](const Layer& l) { return l.name == name; }), kOp,
            "--exclude names '" + name + "', which is not a dense 2-d weight of " + args.in);
  require(!layers.empty(), kOp, "no dense 2-d float weight to prune in " + args.in);
  return layers;
}

void check_weight(const Layer& l) {
  auto v = l.weight.values();
  for (std::size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i]))  // the message is built only on failure: this loop sees every weight
      throw Error(std::string(kOp) + " " + l.name,
                  "weight value at (" + std::to_string(static_cast<std::int64_t>(i) / l.weight.cols()) + ", " +
                      std::to_string(static_cast<std::int64_t>(i) % l.weight.cols()) + ") is " + std::to_string(v[i]) +
                      ": weights must be finite");
}

void run_prune(const PruneArgs& args) {
  const PatternSpec spec = args.pattern.spec();
  const Layout layout = parse_layout(args.layout);
  const Pattern p = spec.pattern;
  require(!args.permute || p == Pattern::nm || p == Pattern::sp24, kOp,
          "--permute is for nm and 24 (channel permutations for N:M), not " + spec.describe());
  Model model = load_model(args.in);
  std::vector<Layer> layers = collect_layers(model, args, layout);
  std::optional<SafetensorsFile> score_file;
  if (!args.scores.empty()) score_file = read_safetensors(args.scores);

  Progress progress(args.permute ? "scoring and permuting" : "scoring", layers.size());
  for (std::size_t i = 0; i < layers.size(); ++i) {
    Layer& l = layers[i];
    progress.step(i, l.name);
    if (l.exclude) continue;
    check_weight(l);
    l.scores = score_file ? user_scores(*score_file, l.name, l.weight.rows(), l.weight.cols(), layout)
                          : magnitude_scores(l.weight);
    if (args.permute) {
      l.permutation = search_nm_permutation(l.scores, spec);
      l.weight = permute_rows(l.weight, l.permutation->permutation);
      l.scores = permute_rows(l.scores, l.permutation->permutation);
    }
  }
  progress.done();

  std::vector<PatternMask> masks(layers.size());
  std::vector<std::optional<double>> targets(layers.size());
  if (args.global) {
    require(args.pattern.sparsity.has_value(), kOp, "--global needs --sparsity");
    std::vector<GlobalLayer> global;
    for (Layer& l : layers)
      global.push_back({l.name, std::move(l.scores), spec, 0.0, args.layer_ceiling, l.exclude, {}});
    const auto results = global_prune(global, *args.pattern.sparsity);
    for (std::size_t i = 0; i < layers.size(); ++i) {
      masks[i] = results[i].mask;
      if (!layers[i].exclude) targets[i] = results[i].target;
    }
  } else {
    Progress projecting("projecting", layers.size());
    for (std::size_t i = 0; i < layers.size(); ++i) {
      projecting.step(i, layers[i].name);
      if (layers[i].exclude) continue;
      try {
        masks[i] = project(layers[i].scores, spec, args.pattern.sparsity);
      } catch (const Error& e) {
        throw Error(std::string(kOp) + " " + layers[i].name, e.what());
      }
      targets[i] = args.pattern.sparsity;
    }
    projecting.done();
  }

  std::cout << "pattern " << spec.describe() << (args.global ? ", global ranking" : ", per layer") << ", layout "
            << args.layout << ", scores " << (args.scores.empty() ? "|w|" : args.scores) << "\n\n";
  std::vector<std::string> header{"weight", "K x N", "target", "achieved", "kept |w|"};
  if (args.permute) header.push_back("perm. efficacy");
  Table table(header);
  double pruned_total = 0, size_total = 0;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const Layer& l = layers[i];
    std::vector<std::string> row{l.name, std::to_string(l.weight.rows()) + " x " + std::to_string(l.weight.cols())};
    if (l.exclude) {
      row.insert(row.end(), {"excluded", percent(0), percent(1, 1)});
      if (args.permute) row.push_back("-");
      table.add(row);
      continue;  // stays as it was in the input
    }
    Weight w = make_weight(l.weight, masks[i], spec);
    const double kept_mag = magnitude(to_dense(w)) / std::max(magnitude(l.weight), 1e-300);
    row.insert(row.end(), {targets[i] ? percent(*targets[i]) : "(pattern)", percent(sparsity(w)), percent(kept_mag, 1)});
    if (l.permutation) {
      row.push_back(percent(l.permutation->efficacy, 1));
      const auto& perm = l.permutation->permutation;
      model.others[l.name + ".k_permutation"] =
          Tensor::from_vector(perm, {static_cast<std::int64_t>(perm.size())});
    }
    table.add(row);
    pruned_total += sparsity(w) * double(l.weight.size());
    size_total += double(l.weight.size());
    model.others.erase(l.name);
    model.weights.insert_or_assign(l.name, std::move(w));
  }
  table.print(std::cout);
  save_model(args.out, model);
  std::cout << "\nwrote " << args.out << ": overall sparsity of the pruned weights "
            << percent(size_total == 0 ? 0 : pruned_total / size_total) << "\n";
  if (args.permute)
    std::cout << "K rows of each N:M weight are permuted; '<weight>.k_permutation' holds the order (row k is "
                 "original row perm[k]): permute the previous layer's output features (or the input) the same way\n";
}

}  // namespace

void add_prune_command(CLI::App& app) {
  auto args = std::make_shared<PruneArgs>();
  CLI::App* cmd = app.add_subcommand(
      "prune", "Prune the dense weights of a model to a pattern (per layer or one global ranking) and save them");
  cmd->add_option("model", args->in, "Input .safetensors")->required()->check(CLI::ExistingFile);
  cmd->add_option("-o,--out", args->out, "Output .safetensors (written atomically)")->required();
  args->pattern.add_to(*cmd);
  cmd->add_flag("--global", args->global,
                "One threshold over the units of all layers (layers end up unevenly sparse) instead of each layer "
                "at --sparsity");
  cmd->add_option("--layer-ceiling", args->layer_ceiling,
                  "--global: most sparsity any one layer gets (1 lets a layer whose weights are all small vanish)")
      ->capture_default_str();
  cmd->add_option("--scores", args->scores,
                  "Importance scores: a .safetensors with one tensor per weight name, shaped like the weight under "
                  "--layout (default: |w|)")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--permute", args->permute,
                "nm/24: permute each weight's K rows to keep more magnitude (Pool & Yu); saves '<name>.k_permutation'");
  cmd->add_option("--exclude", args->exclude, "Keep these weights dense (outside a --global budget)");
  cmd->add_option("--layout", args->layout,
                  "Orientation of plain 2-d tensors: out_in (PyTorch Linear [out, in]) or in_out (K x N)")
      ->capture_default_str();
  cmd->callback([args] { run_prune(*args); });
}

}  // namespace tilesparse::cli

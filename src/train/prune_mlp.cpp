#include "tilesparse/train/prune_mlp.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "tilesparse/core/error.hpp"
#include "tilesparse/prune/apriori.hpp"
#include "tilesparse/prune/permutation.hpp"
#include "tilesparse/prune/project.hpp"
#include "tilesparse/prune/schedule.hpp"

namespace tilesparse {
namespace {

bool fixed_sparsity(Pattern p) { return p == Pattern::nm || p == Pattern::sp24; }

std::vector<std::size_t> layers_to_prune(const Mlp& mlp, const MlpPruneOptions& o) {
  std::vector<std::size_t> layers = o.layers;
  if (layers.empty()) {
    // The classifier is small and decides every output: pruning it buys nothing.
    for (std::size_t l = 0; l + 1 < mlp.layers.size(); ++l) layers.push_back(l);
  }
  for (auto l : layers) {
    require(l < mlp.layers.size(), "prune_mlp",
            "layer " + std::to_string(l) + " does not exist (the MLP has " + std::to_string(mlp.layers.size()) + ")");
  }
  return layers;
}

std::string layer_name(std::size_t l) { return "fc" + std::to_string(l + 1); }

}  // namespace

MlpPruneReport prune_mlp(Mlp& mlp, const HostMatrix& x, std::span<const std::uint8_t> labels,
                         const MlpPruneOptions& o) {
  o.spec.check();
  const std::vector<std::size_t> layers = layers_to_prune(mlp, o);
  const bool fixed = fixed_sparsity(o.spec.pattern);
  require(fixed || o.sparsity.has_value(), "prune_mlp", o.spec.describe() + " needs a target sparsity");
  require(o.layer_ceiling > 0 && o.layer_ceiling <= 1, "prune_mlp", "layer_ceiling must be in (0, 1]");
  require(o.stages >= 1 && o.epochs_per_stage >= 0, "prune_mlp", "needs stages >= 1 and epochs_per_stage >= 0");
  require(!o.permute || fixed, "prune_mlp", "channel permutation applies to nm and 24 only");

  MlpPruneReport report;
  report.layers.resize(layers.size());
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const auto& w = mlp.layers[layers[i]].w;
    report.layers[i] = {layers[i], w.rows(), w.cols(), 0.0, bytes(Weight(DenseWeight{w})), 0, std::nullopt};
  }
  if (o.permute) {
    // Before any mask exists: the permutation then only moves dense weights around.
    for (std::size_t i = 0; i < layers.size(); ++i) {
      const std::size_t l = layers[i];
      if (l == 0) continue;  // no previous layer to absorb a reorder of the inputs
      require(mlp.layers[l].mask.keep.empty() && mlp.layers[l - 1].mask.keep.empty(), "prune_mlp",
              "permute needs unpruned layers " + layer_name(l - 1) + " and " + layer_name(l));
      PermutationOptions po;
      po.seed = o.finetune.seed;
      // apex's setting: the greedy phase alone already takes minutes on 1024 x 1024
      // (about (K/4)^2 stripe pairs); escapes would multiply that.
      po.escape_attempts = 0;
      const PermutationResult r = search_nm_permutation(magnitude_scores(mlp.layers[l].w), o.spec, po);
      permute_layer_pair(mlp.layers[l - 1].w, mlp.layers[l - 1].bias, mlp.layers[l].w, r.permutation);
      report.layers[i].permutation_efficacy = r.efficacy;
    }
  }

  // The schedule (prune/schedule.hpp) projects with the previous masks as the allowed
  // set, so masks only shrink; fine-tuning runs on the MLP between stages.
  std::vector<double> targets;
  for (int s = 1; s <= (fixed ? 1 : o.stages); ++s) targets.push_back(fixed ? 0.0 : *o.sparsity * s / o.stages);
  std::vector<ScheduleLayer> sched;
  for (std::size_t l : layers) {
    require(mlp.layers[l].mask.keep.empty(), "prune_mlp", layer_name(l) + " is pruned already");
    const double ceiling = fixed ? 1.0 : std::max(o.layer_ceiling, *o.sparsity);
    sched.push_back({layer_name(l), mlp.layers[l].w, o.spec, 0.0, ceiling, false, {}});
  }
  TrainOptions ft = o.finetune;
  ft.epochs = fixed ? o.stages * o.epochs_per_stage : o.epochs_per_stage;
  std::vector<HostMatrix> taylor;  // of the current stage, computed on first use
  ScheduleOptions so;
  so.global = o.global_ranking && !fixed;
  if (o.apriori_share > 0) {
    require(o.spec.pattern == Pattern::tw || o.spec.pattern == Pattern::tew, "prune_mlp",
            "apriori tuning is for tw and tew, not " + o.spec.describe());
    require(o.apriori_share < 0.5, "prune_mlp", "apriori_share must be below 0.5 (prune + protect lists)");
    so.global = false;
    so.projector = [&o](const HostMatrix& scores, const PatternSpec& spec, std::optional<double> target,
                        const Mask& allowed) {
      AprioriOptions a;
      a.prune_columns = a.protect_columns = std::llround(o.apriori_share * static_cast<double>(scores.cols()));
      a.prune_rows = a.protect_rows = std::llround(o.apriori_share * static_cast<double>(scores.rows()));
      return apriori_tw(scores, spec, target.value_or(0.0), a, &allowed);
    };
  }
  if (o.score == ImportanceScore::taylor) {
    so.scores = [&](const ScheduleLayer& layer) {
      if (taylor.empty()) taylor = taylor_scores(mlp, x, labels, ft.batch_size, o.taylor_batches);
      return taylor[layers[static_cast<std::size_t>(&layer - sched.data())]];
    };
  }
  so.after_stage = [&](const StageResult& stage, std::vector<ScheduleLayer>& ls) {
    for (std::size_t i = 0; i < ls.size(); ++i) {
      mlp.layers[layers[i]].w = ls[i].weight;
      mlp.set_mask(layers[i], ls[i].mask.combined());
    }
    ft.seed = o.finetune.seed + static_cast<std::uint64_t>(stage.stage + 1);
    train(mlp, x, labels, ft);
    for (std::size_t i = 0; i < ls.size(); ++i) ls[i].weight = mlp.layers[layers[i]].w;
    taylor.clear();
  };
  run_schedule(sched, targets, so);
  std::vector<PatternMask> masks;
  for (auto& l : sched) masks.push_back(std::move(l.mask));
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const MlpLayer& layer = mlp.layers[layers[i]];
    report.weights.push_back(make_weight(layer.w, masks[i], o.spec));
    report.layers[i].sparsity = layer.mask.sparsity();
    report.layers[i].pruned_bytes = bytes(report.weights.back());
  }
  return report;
}

Model mlp_to_model(const Mlp& mlp, const MlpPruneReport* pruned) {
  Model m;
  for (std::size_t l = 0; l < mlp.layers.size(); ++l) {
    m.weights[layer_name(l) + ".weight"] = Weight(DenseWeight{mlp.layers[l].w});
    m.others[layer_name(l) + ".bias"] =
        Tensor::from_vector(mlp.layers[l].bias, {static_cast<std::int64_t>(mlp.layers[l].bias.size())});
  }
  if (pruned) {
    for (std::size_t i = 0; i < pruned->layers.size(); ++i) {
      m.weights[layer_name(pruned->layers[i].layer) + ".weight"] = pruned->weights[i];
    }
  }
  return m;
}

Mlp mlp_from_model(const Model& model) {
  Mlp mlp;
  for (std::size_t l = 0;; ++l) {
    const auto w = model.weights.find(layer_name(l) + ".weight");
    if (w == model.weights.end()) break;
    const auto b = model.others.find(layer_name(l) + ".bias");
    require(b != model.others.end(), "mlp_from_model", "weight " + w->first + " has no " + layer_name(l) + ".bias");
    MlpLayer layer{to_dense(w->second).as(DType::f32), b->second.to_vector<float>(b->first), {}};
    require(static_cast<std::int64_t>(layer.bias.size()) == layer.w.cols(), "mlp_from_model",
            b->first + " has " + std::to_string(layer.bias.size()) + " values for " + std::to_string(layer.w.cols()) +
                " outputs");
    require(l == 0 || mlp.layers.back().w.cols() == layer.w.rows(), "mlp_from_model",
            w->first + " takes " + std::to_string(layer.w.rows()) + " inputs, the previous layer gives " +
                std::to_string(mlp.layers.empty() ? 0 : mlp.layers.back().w.cols()));
    if (pattern_of(w->second) != Pattern::dense) layer.mask = nonzero_mask(layer.w);
    mlp.layers.push_back(std::move(layer));
  }
  require(!mlp.layers.empty(), "mlp_from_model", "the model has no fc1.weight");
  return mlp;
}

}  // namespace tilesparse

#pragma once
// Prune a trained MLP to a sparsity pattern with fine-tuning (the recipe the accuracy
// study and the demo share): the sparsity ramps up over `stages`; at each stage the
// pruned layers are projected onto the pattern from their importance scores (globally
// ranked or layer by layer; prune/schedule.hpp, so masks only shrink), the masks are
// installed, and the network is fine-tuned with the masks held (pruned weights stay 0).
// Patterns whose sparsity is fixed (nm, 24) are reached in one stage, then fine-tuned
// for the same total number of epochs.
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "tilesparse/formats/weight.hpp"
#include "tilesparse/io/model.hpp"
#include "tilesparse/train/mlp.hpp"

namespace tilesparse {

enum class ImportanceScore : std::uint8_t { magnitude, taylor };

struct MlpPruneOptions {
  PatternSpec spec;
  std::optional<double> sparsity;  // nullopt for nm and 24 (the pattern fixes it)
  std::vector<std::size_t> layers;   // layers to prune; empty = every layer but the classifier
  int stages = 3;
  int epochs_per_stage = 1;
  ImportanceScore score = ImportanceScore::magnitude;
  // One threshold across the pruned layers (prune/global.hpp), so each layer gets its
  // own sparsity and the pruned layers together meet the target; false: every pruned
  // layer gets the target. Ignored for nm and 24.
  bool global_ranking = true;
  // Global ranking only: most sparsity one layer may get (raised to the target when that
  // is higher). Without it a ranking by mean block score can empty a whole layer (bw
  // 32x32 at 75% pruned fc2 entirely), which kills the network.
  double layer_ceiling = 0.95;
  std::int64_t taylor_batches = 50;  // batches of finetune.batch_size summed for Taylor scores
  // nm/24 only: search a K permutation per pruned layer that has a previous layer, and
  // apply it to the pair (the network's function is unchanged) before each projection.
  bool permute = false;
  // tw/tew only, > 0: apriori tuning (prune/apriori.hpp) at every stage, per layer (no
  // global ranking): this share of a layer's columns, and of its K rows counted as rows
  // of tiles, goes to each of the four lists (prune first / protect, columns / rows).
  double apriori_share = 0;
  TrainOptions finetune;  // epochs is ignored (stages x epochs_per_stage)
};

struct LayerPruneReport {
  std::size_t layer = 0;
  std::int64_t k = 0, n = 0;
  double sparsity = 0;        // achieved, counting the tew residual as kept
  std::size_t dense_bytes = 0;   // f32 dense weight
  std::size_t pruned_bytes = 0;  // f32 weight in the pattern's format
  // nm/24 with permute: share of the gap between the magnitude N:M keeps in the original
  // K order and the any-order upper bound that the permutation closed (apex efficacy).
  std::optional<double> permutation_efficacy;
};

struct MlpPruneReport {
  std::vector<LayerPruneReport> layers;
  std::vector<Weight> weights;  // the pruned layers in their formats, same order as `layers`
};

MlpPruneReport prune_mlp(Mlp& mlp, const HostMatrix& x, std::span<const std::uint8_t> labels,
                         const MlpPruneOptions& options);

// The MLP as a model file: "fc<l+1>.weight" (pruned layers in their formats, the rest
// dense, all K x N) and "fc<l+1>.bias".
Model mlp_to_model(const Mlp& mlp, const MlpPruneReport* pruned);
// Reads such a model back (formats expanded to dense weights; masks from the kept elements).
Mlp mlp_from_model(const Model& model);

}  // namespace tilesparse

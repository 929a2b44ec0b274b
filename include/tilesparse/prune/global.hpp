#pragma once
// Global ranking (TW paper's global weight pruning): one threshold over the pruning units
// of all layers of a model, so important layers stay denser and unimportant ones lose
// more. Units are ranked by their MEAN score (prune/scores.hpp), so a layer is not
// favoured for having large units. Each layer's share of units below the threshold is
// its sparsity, clamped to its floor/ceiling; the threshold is chosen so the pruned
// elements of all ranked layers add up to the target. Each layer is then projected at
// its sparsity with its own pattern (prune/project.hpp).
//
// Ranking unit per pattern: ew an element, bw a bk x bn block, tw/tew one row of a tile
// (1 x G, the finest thing TW prunes). nm and 24 fix their own sparsity and dense keeps
// everything: such layers, and excluded ones, are projected as they are and do not
// count towards the budget.
#include <string>
#include <vector>

#include "tilesparse/core/matrix.hpp"
#include "tilesparse/formats/weight.hpp"

namespace tilesparse {

struct GlobalLayer {
  std::string name;
  HostMatrix scores;  // K x N, finite, >= 0
  PatternSpec spec;
  double floor = 0.0;    // least sparsity this layer gets
  double ceiling = 1.0;  // most sparsity this layer gets
  bool exclude = false;  // kept dense, outside the budget (e.g. first/last layer)
  // K x N: elements that may be kept; 0 x 0 = all. Units holding a forbidden element rank
  // below every other unit and the projection keeps them pruned (project(..., allowed)),
  // which is how a multi-stage schedule keeps masks shrinking.
  Mask allowed;
};

struct GlobalLayerResult {
  std::string name;
  double target = 0;    // sparsity the ranking gave this layer
  double achieved = 0;  // sparsity of the projected mask
  PatternMask mask;
};

// The sparsity each layer gets from one global threshold (0 for excluded/fixed layers;
// nm/24 get their fixed value). Error when the floors/ceilings cannot meet `sparsity`.
std::vector<double> global_layer_sparsities(const std::vector<GlobalLayer>& layers, double sparsity);

// global_layer_sparsities, then each layer projected at its sparsity.
std::vector<GlobalLayerResult> global_prune(const std::vector<GlobalLayer>& layers, double sparsity);

}  // namespace tilesparse

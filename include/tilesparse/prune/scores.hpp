#pragma once
// Importance scores: how much each weight element matters, K x N like the weight, finite
// and >= 0. Projectors keep the units with the highest scores.
//  - magnitude |w| (magnitude_scores in prune/project.hpp);
//  - first-order Taylor (Molchanov et al., CVPR'19): the loss change from removing w is
//    about (g·w)², summed over batches of gradients g;
//  - any score tensor the user supplies (e.g. from another method), checked.
// Units of different sizes (edge blocks, partial tiles, columns of different heights) are
// compared by the MEAN score of their elements, so a unit is not favoured for being large.
#include <cstdint>
#include <string>

#include "tilesparse/core/matrix.hpp"
#include "tilesparse/io/model.hpp"
#include "tilesparse/io/safetensors.hpp"

namespace tilesparse {

// Sums (g·w)² over the gradient batches it is given, for one K x N weight.
class TaylorAccumulator {
 public:
  // Weight values must be finite (Error naming the element otherwise).
  explicit TaylorAccumulator(HostMatrix weight);
  // One batch's gradient of the loss w.r.t. the weight, K x N, finite.
  void add_batch(const HostMatrix& gradient);
  std::int64_t batches() const noexcept { return batches_; }
  // The accumulated scores (f32); zeros before any batch.
  HostMatrix scores() const;

 private:
  HostMatrix weight_;
  std::vector<double> sum_;
  std::int64_t batches_ = 0;
};

// Taylor scores of weight `name` (K x N) from a gradient file: tensor `name` holds either
// one batch ([rows, cols]) or a stack of batches ([batches, rows, cols]); rows/cols are
// K/N for in_out, N/K for out_in. Error when the tensor is missing or its shape differs.
HostMatrix taylor_scores(const SafetensorsFile& gradients, const std::string& name, const HostMatrix& weight,
                         Layout layout);

// A user-supplied score tensor `name` ([rows, cols] under `layout`) for a K x N weight:
// checked for shape, finiteness and sign.
HostMatrix user_scores(const SafetensorsFile& scores, const std::string& name, std::int64_t k, std::int64_t n,
                       Layout layout);

// Mean score of every unit_rows x unit_cols unit (edge units partial, averaged over the
// elements they have): ceil(K/unit_rows) x ceil(N/unit_cols), f32.
HostMatrix unit_scores(const HostMatrix& scores, std::int64_t unit_rows, std::int64_t unit_cols);

}  // namespace tilesparse

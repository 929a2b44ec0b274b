#include "tilesparse/prune/scores.hpp"

#include <cmath>

#include "src/prune/score_checks.hpp"
#include "tilesparse/core/error.hpp"

namespace tilesparse {
namespace {

const Tensor& tensor_at(const SafetensorsFile& file, const std::string& name, const std::string& op) {
  const auto it = file.tensors.find(name);
  require(it != file.tensors.end(), op, "no tensor named '" + name + "' in the file");
  return it->second;
}

// A [rows, cols] tensor as a K x N matrix under `layout`.
HostMatrix oriented(const Tensor& t, Layout layout, const std::string& what) {
  const HostMatrix m = to_matrix(t, what);
  return layout == Layout::out_in ? m.transposed() : m;
}

void require_shape(const HostMatrix& m, std::int64_t k, std::int64_t n, const std::string& op,
                   const std::string& what) {
  require(m.rows() == k && m.cols() == n, op,
          what + " is " + shape_str({m.rows(), m.cols()}) + " as K x N, the weight is " + shape_str({k, n}) +
              " (wrong --layout?)");
}

}  // namespace

TaylorAccumulator::TaylorAccumulator(HostMatrix weight)
    : weight_(std::move(weight)), sum_(static_cast<std::size_t>(weight_.size()), 0.0) {
  detail::require_valid_scores(weight_, "taylor scores: weight", false);
}

void TaylorAccumulator::add_batch(const HostMatrix& gradient) {
  const std::string what = "taylor scores: gradient of batch " + std::to_string(batches_);
  require_shape(gradient, weight_.rows(), weight_.cols(), "taylor scores", what);
  detail::require_valid_scores(gradient, what, false);
  const auto g = gradient.values();
  const auto w = weight_.values();
  for (std::size_t i = 0; i < sum_.size(); ++i) {
    const double gw = double(g[i]) * w[i];
    sum_[i] += gw * gw;
  }
  ++batches_;
}

HostMatrix TaylorAccumulator::scores() const {
  HostMatrix s(weight_.rows(), weight_.cols());
  auto out = s.mutable_values();
  for (std::size_t i = 0; i < sum_.size(); ++i) out[i] = static_cast<float>(sum_[i]);
  // A float sum can overflow to Inf even when every term is finite.
  detail::require_valid_scores(s, "taylor scores: accumulated (g*w)^2 overflows f32");
  return s;
}

HostMatrix taylor_scores(const SafetensorsFile& gradients, const std::string& name, const HostMatrix& weight,
                         Layout layout) {
  const std::string op = "taylor scores";
  const Tensor& t = tensor_at(gradients, name, op);
  TaylorAccumulator acc(weight);
  if (t.shape.size() == 2) {
    acc.add_batch(oriented(t, layout, "gradient '" + name + "'"));
    return acc.scores();
  }
  require(t.shape.size() == 3, op,
          "gradient '" + name + "' must be 2-d (one batch) or 3-d (batches, rows, cols), got " +
              std::to_string(t.shape.size()) + "-d");
  require(is_float(t.type), op, "gradient '" + name + "' has non-float type " + std::string(to_string(t.type)));
  const std::int64_t batches = t.shape[0];
  require(batches >= 0 && t.shape[1] >= 0 && t.shape[2] >= 0 &&
              static_cast<std::int64_t>(t.bytes.size()) == t.numel() * static_cast<std::int64_t>(size_of(t.type)),
          op, "gradient '" + name + "': byte size does not match its shape");
  const std::size_t slice = t.bytes.size() / static_cast<std::size_t>(std::max<std::int64_t>(batches, 1));
  for (std::int64_t b = 0; b < batches; ++b) {
    Tensor one{t.type, {t.shape[1], t.shape[2]}, {}};
    one.bytes.assign(t.bytes.begin() + static_cast<std::ptrdiff_t>(b * slice),
                     t.bytes.begin() + static_cast<std::ptrdiff_t>((b + 1) * slice));
    acc.add_batch(oriented(one, layout, "gradient '" + name + "' batch " + std::to_string(b)));
  }
  return acc.scores();
}

HostMatrix user_scores(const SafetensorsFile& scores, const std::string& name, std::int64_t k, std::int64_t n,
                       Layout layout) {
  const std::string op = "user scores";
  HostMatrix s = oriented(tensor_at(scores, name, op), layout, "scores '" + name + "'");
  require_shape(s, k, n, op, "scores '" + name + "'");
  detail::require_valid_scores(s, op + " '" + name + "'");
  return s.as(DType::f32);
}

HostMatrix unit_scores(const HostMatrix& scores, std::int64_t unit_rows, std::int64_t unit_cols) {
  require(unit_rows >= 1 && unit_cols >= 1, "unit_scores",
          "unit must be at least 1 x 1, got " + shape_str({unit_rows, unit_cols}));
  const std::int64_t rows = (scores.rows() + unit_rows - 1) / unit_rows;
  const std::int64_t cols = (scores.cols() + unit_cols - 1) / unit_cols;
  std::vector<double> sum(static_cast<std::size_t>(rows * cols), 0.0);
  for (std::int64_t r = 0; r < scores.rows(); ++r)
    for (std::int64_t c = 0; c < scores.cols(); ++c) sum[(r / unit_rows) * cols + c / unit_cols] += scores(r, c);
  HostMatrix out(rows, cols);
  auto o = out.mutable_values();
  for (std::int64_t ur = 0; ur < rows; ++ur)
    for (std::int64_t uc = 0; uc < cols; ++uc) {
      const std::int64_t h = std::min(unit_rows, scores.rows() - ur * unit_rows);
      const std::int64_t w = std::min(unit_cols, scores.cols() - uc * unit_cols);
      o[ur * cols + uc] = static_cast<float>(sum[ur * cols + uc] / double(h * w));
    }
  return out;
}

}  // namespace tilesparse

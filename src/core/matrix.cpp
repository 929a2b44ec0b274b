#include "tilesparse/core/matrix.hpp"

#include <cmath>
#include <random>

#include "tilesparse/core/error.hpp"

namespace tilesparse {

HostMatrix::HostMatrix(std::int64_t rows, std::int64_t cols, DType dtype)
    : rows_(rows), cols_(cols), dtype_(dtype) {
  require(rows >= 0 && cols >= 0, "HostMatrix", "negative shape", shape_str({rows, cols}));
  data_.assign(static_cast<std::size_t>(rows * cols), 0.0f);
}

HostMatrix::HostMatrix(std::int64_t rows, std::int64_t cols, DType dtype, std::vector<float> values)
    : rows_(rows), cols_(cols), dtype_(dtype), data_(std::move(values)) {
  require(rows >= 0 && cols >= 0 && static_cast<std::int64_t>(data_.size()) == rows * cols, "HostMatrix",
          "expected " + std::to_string(rows * cols) + " values, got " + std::to_string(data_.size()),
          shape_str({rows, cols}));
  if (dtype_ != DType::f32)
    for (auto& v : data_) v = round_to(dtype_, v);
}

HostMatrix HostMatrix::random(std::int64_t rows, std::int64_t cols, DType dtype, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(static_cast<std::size_t>(rows * cols));
  for (auto& x : v) {
    do x = round_to(dtype, dist(gen));
    while (x == 0.0f);
  }
  return HostMatrix(rows, cols, dtype, std::move(v));
}

void HostMatrix::set(std::int64_t r, std::int64_t c, float v) { data_[r * cols_ + c] = round_to(dtype_, v); }

void HostMatrix::fill(float v) { std::fill(data_.begin(), data_.end(), v); }

HostMatrix HostMatrix::transposed() const {
  HostMatrix t(cols_, rows_, dtype_);
  for (std::int64_t r = 0; r < rows_; ++r)
    for (std::int64_t c = 0; c < cols_; ++c) t.data_[c * rows_ + r] = data_[r * cols_ + c];
  return t;
}

HostMatrix HostMatrix::as(DType dtype) const { return HostMatrix(rows_, cols_, dtype, data_); }

bool operator==(const HostMatrix& a, const HostMatrix& b) {
  if (a.rows_ != b.rows_ || a.cols_ != b.cols_ || a.dtype_ != b.dtype_) return false;
  for (std::size_t i = 0; i < a.data_.size(); ++i) {
    const float x = a.data_[i], y = b.data_[i];
    if (!(x == y) && !(std::isnan(x) && std::isnan(y))) return false;
  }
  return true;
}

std::int64_t Mask::kept() const {
  std::int64_t n = 0;
  for (auto k : keep) n += k != 0;
  return n;
}

std::vector<std::int64_t> Mask::kept_columns() const {
  std::vector<std::int64_t> out;
  for (std::int64_t j = 0; j < cols; ++j)
    for (std::int64_t r = 0; r < rows; ++r)
      if ((*this)(r, j)) {
        out.push_back(j);
        break;
      }
  return out;
}

double Mask::sparsity() const {
  if (keep.empty()) return 0.0;
  return 1.0 - static_cast<double>(kept()) / static_cast<double>(keep.size());
}

Mask nonzero_mask(const HostMatrix& w) {
  Mask m(w.rows(), w.cols(), false);
  auto v = w.values();
  for (std::size_t i = 0; i < v.size(); ++i) m.keep[i] = v[i] != 0.0f;
  return m;
}

HostMatrix apply_mask(const HostMatrix& w, const Mask& mask) {
  require(mask.rows == w.rows() && mask.cols == w.cols(), "apply_mask", "mask shape differs from weight",
          shape_str({w.rows(), w.cols()}) + " vs mask " + shape_str({mask.rows, mask.cols}));
  HostMatrix out = w;
  auto v = out.mutable_values();
  for (std::size_t i = 0; i < v.size(); ++i)
    if (!mask.keep[i]) v[i] = 0.0f;
  return out;
}

double relative_error(const HostMatrix& a, const HostMatrix& b) {
  require(a.rows() == b.rows() && a.cols() == b.cols(), "relative_error", "shapes differ",
          shape_str({a.rows(), a.cols()}) + " vs " + shape_str({b.rows(), b.cols()}));
  double num = 0.0, den = 0.0;
  auto x = a.values(), y = b.values();
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(x[i]) || std::isnan(y[i])) return std::nan("");
    const double d = static_cast<double>(x[i]) - static_cast<double>(y[i]);
    num += d * d;
    den += static_cast<double>(y[i]) * static_cast<double>(y[i]);
  }
  if (den == 0.0) return num == 0.0 ? 0.0 : std::sqrt(num);
  return std::sqrt(num / den);
}

}  // namespace tilesparse

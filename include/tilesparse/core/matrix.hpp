#pragma once
// Host matrices: row-major, contiguous, values held as float and exactly representable
// in `dtype` (constructors and set() round). A weight is K x N (reduction axis first),
// an activation M x K, an output M x N (DESIGN.md §1).
#include <cstdint>
#include <span>
#include <vector>

#include "tilesparse/core/dtype.hpp"

namespace tilesparse {

class HostMatrix {
 public:
  HostMatrix() = default;
  // rows x cols of zeros.
  HostMatrix(std::int64_t rows, std::int64_t cols, DType dtype = DType::f32);
  // Takes values (row-major, size rows*cols) and rounds them to dtype.
  HostMatrix(std::int64_t rows, std::int64_t cols, DType dtype, std::vector<float> values);

  // Uniform in [-1, 1), deterministic for a seed, rounded to dtype; never all zeros.
  static HostMatrix random(std::int64_t rows, std::int64_t cols, DType dtype, std::uint64_t seed);

  std::int64_t rows() const noexcept { return rows_; }
  std::int64_t cols() const noexcept { return cols_; }
  std::int64_t size() const noexcept { return rows_ * cols_; }
  DType dtype() const noexcept { return dtype_; }

  float operator()(std::int64_t r, std::int64_t c) const { return data_[r * cols_ + c]; }
  // Stores round_to(dtype, v).
  void set(std::int64_t r, std::int64_t c, float v);
  // Fills every element with v as is (no rounding): used to poison outputs with NaN.
  void fill(float v);

  std::span<const float> values() const noexcept { return data_; }
  // Raw access; callers that write must keep values representable in dtype.
  std::span<float> mutable_values() noexcept { return data_; }

  HostMatrix transposed() const;
  // Copy rounded to another dtype.
  HostMatrix as(DType dtype) const;

  friend bool operator==(const HostMatrix& a, const HostMatrix& b);

 private:
  std::int64_t rows_ = 0;
  std::int64_t cols_ = 0;
  DType dtype_ = DType::f32;
  std::vector<float> data_;
};

// Keep-mask of a K x N weight: 1 = kept, 0 = pruned.
struct Mask {
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  std::vector<std::uint8_t> keep;  // row-major, size rows*cols

  Mask() = default;
  Mask(std::int64_t r, std::int64_t c, bool value = true)
      : rows(r), cols(c), keep(static_cast<std::size_t>(r * c), value ? 1 : 0) {}
  bool operator()(std::int64_t r, std::int64_t c) const { return keep[r * cols + c] != 0; }
  void set(std::int64_t r, std::int64_t c, bool v) { keep[r * cols + c] = v ? 1 : 0; }
  std::int64_t kept() const;
  // Columns with any kept element, ascending.
  std::vector<std::int64_t> kept_columns() const;
  // Share of pruned elements, 0 for an empty mask.
  double sparsity() const;
  friend bool operator==(const Mask&, const Mask&) = default;
};

// Mask of the nonzero elements of w.
Mask nonzero_mask(const HostMatrix& w);
// w with the pruned elements set to zero.
HostMatrix apply_mask(const HostMatrix& w, const Mask& mask);

// ||a - b|| / ||b|| in double (Frobenius); NaN if any element of a is NaN; 0 when both are zero.
double relative_error(const HostMatrix& a, const HostMatrix& b);

}  // namespace tilesparse

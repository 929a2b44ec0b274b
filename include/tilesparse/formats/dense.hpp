#pragma once
#include "tilesparse/core/matrix.hpp"
#include "tilesparse/formats/common.hpp"

namespace tilesparse {

// An unpruned K x N weight.
struct DenseWeight {
  HostMatrix w;

  std::int64_t k() const { return w.rows(); }
  std::int64_t n() const { return w.cols(); }
  DType dtype() const { return w.dtype(); }
  static DenseWeight from_dense(const HostMatrix& w, const Mask& mask);  // zeroes pruned elements
  Validation validate() const;
  HostMatrix to_dense() const { return w; }
  std::int64_t kept() const;  // nonzero stored values
  std::size_t bytes() const;
  FormatArrays to_arrays() const;  // arrays: "values" [K,N]
  static DenseWeight from_arrays(const FormatArrays& fa);
  friend bool operator==(const DenseWeight&, const DenseWeight&) = default;
};

}  // namespace tilesparse

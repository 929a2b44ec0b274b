#pragma once
// Unstructured (element-wise) sparsity: CSR over output features, i.e. Wᵀ (N x K) in CSR.
// This is the layout cuSPARSE SpMM wants for Cᵀ = Wᵀ·Aᵀ with row-major A and C.
#include <vector>

#include "tilesparse/core/matrix.hpp"
#include "tilesparse/formats/common.hpp"

namespace tilesparse {

struct EwWeight {
  std::int64_t k = 0, n = 0;
  DType dtype = DType::f32;
  std::vector<std::int64_t> row_ptr;  // size n+1; row_ptr[j]..row_ptr[j+1] index output column j
  std::vector<std::int32_t> k_idx;    // size nnz; ascending within a column, < k
  std::vector<float> values;          // size nnz; exactly representable in dtype

  // Keeps the elements where mask is 1 (including kept zeros).
  static EwWeight from_dense(const HostMatrix& w, const Mask& mask);
  Validation validate() const;
  HostMatrix to_dense() const;
  std::int64_t kept() const;  // nonzero stored values
  std::size_t bytes() const;  // values in dtype + int64 row_ptr + int32 k_idx
  FormatArrays to_arrays() const;  // "row_ptr" I64[n+1], "k_idx" I32[nnz], "values" dtype[nnz]
  static EwWeight from_arrays(const FormatArrays& fa);
  friend bool operator==(const EwWeight&, const EwWeight&) = default;
};

}  // namespace tilesparse

#pragma once
// The launcher of the in-place epilogue kernel, kept free of C++20 headers so the .cu
// file builds as C++17.
#include <cuda_runtime.h>

#include <cstdint>

#include "tilesparse/core/dtype.hpp"

namespace tilesparse::cuda {

// c (rows x cols, row-major, dtype) = activation(c + bias); bias (may be null) indexed by
// column, or by row when bias_by_row (Cᵀ); activation: 0 none, 1 relu, 2 gelu
// (tilesparse::Activation's values).
void launch_epilogue(void* c, std::int64_t rows, std::int64_t cols, DType dtype, const float* bias, bool bias_by_row,
                     int activation, cudaStream_t stream);

}  // namespace tilesparse::cuda

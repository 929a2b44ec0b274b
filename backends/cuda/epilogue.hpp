#pragma once
// The launcher of the in-place epilogue kernel, kept free of C++20 headers so the .cu
// file builds as C++17.
#include <cuda_runtime.h>

#include <cstdint>

#include "tilesparse/core/dtype.hpp"

namespace tilesparse::cuda {

// c (m x n, row-major, dtype) = activation(c + bias[col]); bias may be null;
// activation: 0 none, 1 relu, 2 gelu (tilesparse::Activation's values).
void launch_epilogue(void* c, std::int64_t m, std::int64_t n, DType dtype, const float* bias, int activation,
                     cudaStream_t stream);

}  // namespace tilesparse::cuda

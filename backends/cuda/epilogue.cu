// Bias and activation applied in place after a vendor GEMM, computed in fp32.
// (A fused epilogue belongs in our own kernels; the vendor baselines pay this extra pass.)
#include <algorithm>

#include "backends/cuda/check.hpp"
#include "backends/cuda/element_ops.cuh"
#include "backends/cuda/epilogue.hpp"

namespace tilesparse::cuda {

namespace {

template <class T>
__global__ void epilogue_kernel(T* c, std::int64_t rows, std::int64_t cols, const float* bias, bool bias_by_row,
                                int activation) {
  const std::int64_t total = rows * cols;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    float x = load_value(c + i);
    if (bias) x += bias[bias_by_row ? i / cols : i % cols];
    store_value(c + i, activate(x, activation));
  }
}

template <class T>
void launch(void* c, std::int64_t rows, std::int64_t cols, const float* bias, bool bias_by_row, int activation,
            cudaStream_t stream) {
  const std::int64_t total = rows * cols;
  if (total == 0) return;
  const int threads = 256;
  const std::int64_t blocks = std::min<std::int64_t>((total + threads - 1) / threads, 65535);
  epilogue_kernel<T><<<static_cast<unsigned>(blocks), threads, 0, stream>>>(static_cast<T*>(c), rows, cols, bias,
                                                                            bias_by_row, activation);
  TS_CHECK_LAUNCH("epilogue_kernel");
}

}  // namespace

void launch_epilogue(void* c, std::int64_t rows, std::int64_t cols, DType dtype, const float* bias, bool bias_by_row,
                     int activation, cudaStream_t stream) {
  switch (dtype) {
    case DType::f32: launch<float>(c, rows, cols, bias, bias_by_row, activation, stream); break;
    case DType::f16: launch<__half>(c, rows, cols, bias, bias_by_row, activation, stream); break;
    case DType::bf16: launch<__nv_bfloat16>(c, rows, cols, bias, bias_by_row, activation, stream); break;
  }
}

}  // namespace tilesparse::cuda

// The sparse residual of a TEW weight: c = A · R for R given as CSR of Rᵀ (one row per
// output feature). The TW kernel then adds its tiles on top (TwLaunch::accumulate), so a
// TEW matmul is this pass plus the TW launch. Every element of c is written.
//
// One thread per output element, fp32 sums. The thread index runs along the contiguous
// axis of the layout: over m for Cᵀ (then the k-th row of Aᵀ is read by neighbouring
// threads, coalesced), over n for row-major C (threads of one row m read nearby columns
// of the same A row).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>

#include "backends/cuda/check.hpp"
#include "backends/cuda/tw_launch.hpp"

namespace tilesparse::cuda {

namespace {

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ void store(float* p, float v) { *p = v; }
__device__ __forceinline__ void store(__half* p, float v) { *p = __float2half_rn(v); }
__device__ __forceinline__ void store(__nv_bfloat16* p, float v) { *p = __float2bfloat16_rn(v); }

template <class T>
__global__ void csr_residual_kernel(const CsrResidualLaunch x) {
  const T* a = static_cast<const T*>(x.a);
  const T* values = static_cast<const T*>(x.values);
  T* c = static_cast<T*>(x.c);
  const std::int64_t fast_extent = x.transposed ? x.m : x.n;
  const std::int64_t slow_extent = x.transposed ? x.n : x.m;
  const std::int64_t fast = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (fast >= fast_extent) return;
  for (std::int64_t slow = blockIdx.y; slow < slow_extent; slow += gridDim.y) {
    const std::int64_t m = x.transposed ? fast : slow;
    const std::int64_t n = x.transposed ? slow : fast;
    float sum = 0.0f;
    for (std::int64_t e = x.row_ptr[n]; e < x.row_ptr[n + 1]; ++e) {
      const std::int64_t k = x.k_idx[e];
      sum += to_float(values[e]) * to_float(a[x.transposed ? k * x.m + m : m * x.k + k]);
    }
    store(c + (x.transposed ? n * x.m + m : m * x.n + n), sum);
  }
}

template <class T>
void launch(const CsrResidualLaunch& x) {
  const std::int64_t fast = x.transposed ? x.m : x.n, slow = x.transposed ? x.n : x.m;
  if (fast == 0 || slow == 0) return;
  const int threads = 256;
  const dim3 grid(static_cast<unsigned>((fast + threads - 1) / threads),
                  static_cast<unsigned>(std::min<std::int64_t>(slow, 65535)));
  csr_residual_kernel<T><<<grid, threads, 0, x.stream>>>(x);
  TS_CHECK_LAUNCH("csr_residual_kernel");
}

}  // namespace

void launch_csr_residual(const CsrResidualLaunch& x, DType dtype) {
  switch (dtype) {
    case DType::f32: return launch<float>(x);
    case DType::f16: return launch<__half>(x);
    case DType::bf16: return launch<__nv_bfloat16>(x);
  }
}

}  // namespace tilesparse::cuda

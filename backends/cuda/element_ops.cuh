#pragma once
// Per-element pieces every CUDA epilogue shares: loads and stores of fp32/f16/bf16
// values computed in fp32, and the activations (TwLaunch::activation, launch_epilogue):
// 0 none, 1 ReLU, 2 GELU in its erf form 0.5·v·(1 + erf(v/√2)).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <type_traits>

namespace tilesparse::cuda {

__device__ __forceinline__ float load_value(const float* p) { return *p; }
__device__ __forceinline__ float load_value(const __half* p) { return __half2float(*p); }
__device__ __forceinline__ float load_value(const __nv_bfloat16* p) { return __bfloat162float(*p); }
__device__ __forceinline__ void store_value(float* p, float v) { *p = v; }
__device__ __forceinline__ void store_value(__half* p, float v) { *p = __float2half_rn(v); }
__device__ __forceinline__ void store_value(__nv_bfloat16* p, float v) { *p = __float2bfloat16_rn(v); }

__device__ __forceinline__ float activate(float v, int activation) {
  if (activation == 1) return fmaxf(v, 0.0f);
  if (activation == 2) return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
  return v;
}

// The activation as a compile-time constant: an epilogue loop written once over
// with_activation gets one body per activation, with no per-element test of it.
template <int kActivation>
using Activation = std::integral_constant<int, kActivation>;
template <int kActivation>
__device__ __forceinline__ float activate(float v, Activation<kActivation>) {
  return activate(v, kActivation);
}
// Calls body(Activation<activation>{}).
template <class Body>
__device__ __forceinline__ void with_activation(int activation, Body&& body) {
  if (activation == 1) {
    body(Activation<1>{});
  } else if (activation == 2) {
    body(Activation<2>{});
  } else {
    body(Activation<0>{});
  }
}

}  // namespace tilesparse::cuda

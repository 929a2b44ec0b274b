// Entry of the TW tensor-core kernels: picks the dtype's instantiation (tw_wgmma.cuh).
#include "backends/cuda/tw_wgmma.cuh"

namespace tilesparse::cuda {

using tw_wgmma_detail::launch_typed;

void launch_tw_wgmma(const TwLaunch& x, DType dtype) {
  if (x.m == 0 || x.item_count == 0) return;
  switch (dtype) {
    case DType::f16: return launch_typed<__half>(x);
    case DType::bf16: return launch_typed<__nv_bfloat16>(x);
    case DType::f32: fail("cuda", "launch_tw_wgmma", "fp32 takes the CUDA-core TW kernel", __FILE__, __LINE__);
  }
}

}  // namespace tilesparse::cuda

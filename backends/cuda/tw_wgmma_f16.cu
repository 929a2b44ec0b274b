// The f16 instantiation of the TW tensor-core kernels (see tw_wgmma.cuh).
#include "backends/cuda/tw_wgmma.cuh"

namespace tilesparse::cuda::tw_wgmma_detail {

template void launch_typed<__half>(const TwLaunch&);

}  // namespace tilesparse::cuda::tw_wgmma_detail

#include "backends/cuda/epilogue.hpp"

#include "backends/cuda/kernels.hpp"
#include "backends/cuda/library.hpp"

namespace tilesparse::cuda {

static_assert(static_cast<int>(Activation::none) == 0 && static_cast<int>(Activation::relu) == 1 &&
              static_cast<int>(Activation::gelu) == 2, "launch_epilogue's activation codes");

void apply_epilogue(gpu::DeviceMatrix& c, const float* bias, Activation activation, gpu::Layout layout,
                    const gpu::Stream& stream) {
  if ((bias == nullptr && activation == Activation::none) || c.rows() * c.cols() == 0) return;
  launch_epilogue(c.data(), c.rows(), c.cols(), c.dtype(), bias, layout == gpu::Layout::transposed,
                  static_cast<int>(activation), native(stream));
}

}  // namespace tilesparse::cuda

#include "backends/cuda/epilogue.hpp"

#include "backends/cuda/kernels.hpp"
#include "backends/cuda/library.hpp"

namespace tilesparse::cuda {

static_assert(static_cast<int>(Activation::none) == 0 && static_cast<int>(Activation::relu) == 1 &&
              static_cast<int>(Activation::gelu) == 2, "launch_epilogue's activation codes");

void apply_epilogue(gpu::DeviceMatrix& c, const Epilogue& epilogue, const gpu::Stream& stream) {
  if ((epilogue.bias.empty() && epilogue.activation == Activation::none) || c.rows() * c.cols() == 0) return;
  gpu::DeviceBuffer bias(epilogue.bias.size() * sizeof(float));
  bias.upload(epilogue.bias.data(), bias.bytes());
  launch_epilogue(c.data(), c.rows(), c.cols(), c.dtype(),
                  epilogue.bias.empty() ? nullptr : static_cast<const float*>(bias.data()),
                  static_cast<int>(epilogue.activation), native(stream));
  // The bias buffer is freed on return: finish the kernel that reads it first.
  stream.synchronize();
}

}  // namespace tilesparse::cuda

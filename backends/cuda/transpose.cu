// Transpose of a row-major matrix of 16-bit values through 32 x 32 shared-memory tiles
// (both the read and the write are coalesced). The TW tensor-core kernel uses it to turn
// row-major activations into Aᵀ, whose kept rows it can gather whole.
#include <cstdint>

#include "backends/cuda/check.hpp"
#include "backends/cuda/tw_launch.hpp"

namespace tilesparse::cuda {

namespace {

constexpr int kTile = 32, kRowsPerPass = 8;

__global__ void transpose_kernel(const std::uint16_t* in, std::uint16_t* out, std::int64_t rows, std::int64_t cols) {
  __shared__ std::uint16_t tile[kTile][kTile + 2];
  const std::int64_t c0 = static_cast<std::int64_t>(blockIdx.x) * kTile, r0 = static_cast<std::int64_t>(blockIdx.y) * kTile;
  for (int i = threadIdx.y; i < kTile; i += kRowsPerPass) {
    const std::int64_t r = r0 + i, c = c0 + threadIdx.x;
    if (r < rows && c < cols) tile[i][threadIdx.x] = in[r * cols + c];
  }
  __syncthreads();
  for (int i = threadIdx.y; i < kTile; i += kRowsPerPass) {
    const std::int64_t c = c0 + i, r = r0 + threadIdx.x;  // out row c, column r
    if (r < rows && c < cols) out[c * rows + r] = tile[threadIdx.x][i];
  }
}

}  // namespace

void launch_transpose(const void* in, void* out, std::int64_t rows, std::int64_t cols, cudaStream_t stream) {
  if (rows == 0 || cols == 0) return;
  const std::int64_t grid_x = (cols + kTile - 1) / kTile, grid_y = (rows + kTile - 1) / kTile;
  if (grid_x > 0x7fffffff || grid_y > 65535)
    fail("cuda", "transpose_kernel", "matrix too large for one launch", __FILE__, __LINE__);
  transpose_kernel<<<dim3(static_cast<unsigned>(grid_x), static_cast<unsigned>(grid_y)), dim3(kTile, kRowsPerPass), 0,
                     stream>>>(static_cast<const std::uint16_t*>(in), static_cast<std::uint16_t*>(out), rows, cols);
  TS_CHECK_LAUNCH("transpose_kernel");
}

}  // namespace tilesparse::cuda

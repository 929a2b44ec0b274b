// Transpose of a row-major matrix of 16-bit values through 64 x 64 shared-memory tiles,
// moving 8 bytes (4 values) per thread and access where the shape allows: each thread
// reads 4 consecutive columns of an input row and writes 4 consecutive columns of an
// output row, so both sides are coalesced 8-byte accesses (the 2-byte version ran at
// about half the copy bandwidth, bench/NOTES.md). Rows of the input whose length is not
// a multiple of 4 are read value by value; likewise the output. The TW tensor-core
// kernels use it to turn row-major activations into Aᵀ, whose kept rows they gather whole.
#include <cstdint>

#include "backends/cuda/check.hpp"
#include "backends/cuda/tw_launch.hpp"

namespace tilesparse::cuda {

namespace {

constexpr int kTile = 64;           // values per tile side
constexpr int kVec = 4;             // values per 8-byte access
constexpr int kLanes = kTile / kVec;  // 16 threads across a tile row
constexpr int kRowsPerPass = 16;    // 16 x 16 = 256 threads
// Odd row pitch (in 2-byte values): the store phase reads column i of rows 4·lane + j,
// 65 words apart per lane, so the 16 lanes hit 16 different banks. The price: the load
// phase writes shared memory value by value (an odd pitch breaks 8-byte alignment).
constexpr int kPitch = kTile + 1;

union Vec4 {
  uint2 bits;
  std::uint16_t v[kVec];
};

__global__ void __launch_bounds__(kLanes * kRowsPerPass)
    transpose_kernel(const std::uint16_t* __restrict__ in, std::uint16_t* __restrict__ out, std::int64_t rows,
                     std::int64_t cols) {
  __shared__ std::uint16_t tile[kTile][kPitch];
  const std::int64_t c0 = static_cast<std::int64_t>(blockIdx.x) * kTile, r0 = static_cast<std::int64_t>(blockIdx.y) * kTile;
  const int lane = threadIdx.x, c = lane * kVec;  // tile column (load) / tile row (store) of this thread

  // Load: input rows r0 + i, columns c0 + c .. c + 3.
  const bool load_vectors = cols % kVec == 0;
  for (int i = threadIdx.y; i < kTile; i += kRowsPerPass) {
    const std::int64_t r = r0 + i;
    if (r >= rows) break;
    Vec4 x{};
    if (load_vectors && c0 + c < cols) {
      x.bits = *reinterpret_cast<const uint2*>(in + r * cols + c0 + c);
    } else {
      for (int j = 0; j < kVec; ++j)
        if (c0 + c + j < cols) x.v[j] = in[r * cols + c0 + c + j];
    }
    for (int j = 0; j < kVec; ++j) tile[i][c + j] = x.v[j];
  }
  __syncthreads();

  // Store: output row c0 + i (input column), columns r0 + c .. c + 3 (input rows).
  const bool store_vectors = rows % kVec == 0;
  for (int i = threadIdx.y; i < kTile; i += kRowsPerPass) {
    const std::int64_t oc = c0 + i;
    if (oc >= cols) break;
    Vec4 x;
    for (int j = 0; j < kVec; ++j) x.v[j] = tile[c + j][i];
    if (store_vectors && r0 + c < rows) {
      *reinterpret_cast<uint2*>(out + oc * rows + r0 + c) = x.bits;
    } else {
      for (int j = 0; j < kVec; ++j)
        if (r0 + c + j < rows) out[oc * rows + r0 + c + j] = x.v[j];
    }
  }
}

}  // namespace

void launch_transpose(const void* in, void* out, std::int64_t rows, std::int64_t cols, cudaStream_t stream) {
  if (rows == 0 || cols == 0) return;
  const std::int64_t grid_x = (cols + kTile - 1) / kTile, grid_y = (rows + kTile - 1) / kTile;
  if (grid_x > 0x7fffffff || grid_y > 65535)
    fail("cuda", "transpose_kernel", "matrix too large for one launch", __FILE__, __LINE__);
  transpose_kernel<<<dim3(static_cast<unsigned>(grid_x), static_cast<unsigned>(grid_y)), dim3(kLanes, kRowsPerPass), 0,
                     stream>>>(static_cast<const std::uint16_t*>(in), static_cast<std::uint16_t*>(out), rows, cols);
  TS_CHECK_LAUNCH("transpose_kernel");
}

}  // namespace tilesparse::cuda

// Write-pattern micro-benchmark behind bench/NOTES.md ("Write pattern after the L2
// flush"): how fast 25 MB of a transposed output Cᵀ (3072 rows of 4096 halves) can be
// written in the patterns the TW kernels use, with the L2 first dirtied by a 256 MB
// memset (as tilesparse-bench flushes it) or not. Best of 20 runs each.
//   nvcc -arch=sm_90a -O3 -o write_pattern bench/micro/write_pattern.cu && ./write_pattern
#include <cuda_fp16.h>

#include <cstdint>
#include <cstdio>
#include <vector>

// Every 16-byte chunk in address order.
__global__ void contiguous(uint4* p, std::size_t chunks) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < chunks;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    p[i] = make_uint4(1, 2, 3, 4);
}

// Units of (128 rows taken in a scattered order, 256 columns): each warp writes a 512-byte
// piece of one row, then moves to another row — what a CTA owning 256 activation rows of
// a 128-column item writes into Cᵀ.
__global__ void row_pieces(__half* c, const int* order, int rows, int m) {
  const int m_blocks = m / 256, units = rows / 128 * m_blocks;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int u = blockIdx.x; u < units; u += gridDim.x) {
    const int item = u / m_blocks, block = u % m_blocks;
    for (int i = warp; i < 128; i += blockDim.x / 32) {
      const int row = order[item * 128 + i];
      __half* piece = c + static_cast<std::size_t>(row) * m + block * 256;
      *reinterpret_cast<uint4*>(piece + lane * 8) = make_uint4(1, 2, 3, 4);
    }
  }
}

// Whole rows, in the same scattered order.
__global__ void whole_rows(__half* c, const int* order, int rows, int m) {
  for (int r = blockIdx.x; r < rows; r += gridDim.x) {
    const int row = order[r];
    for (int i = threadIdx.x; i < m / 8; i += blockDim.x)
      *reinterpret_cast<uint4*>(c + static_cast<std::size_t>(row) * m + i * 8) = make_uint4(1, 2, 3, 4);
  }
}

int main() {
  constexpr int rows = 3072, m = 4096;
  constexpr std::size_t bytes = static_cast<std::size_t>(rows) * m * 2, flush_bytes = std::size_t{256} << 20;
  int sms = 0;
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
  void* flush = nullptr;
  __half* c = nullptr;
  int* order = nullptr;
  if (cudaMalloc(&flush, flush_bytes) != cudaSuccess || cudaMalloc(&c, bytes) != cudaSuccess ||
      cudaMalloc(&order, rows * sizeof(int)) != cudaSuccess) {
    std::fprintf(stderr, "write_pattern: cudaMalloc failed\n");
    return 1;
  }
  std::vector<int> h(rows);
  for (int i = 0; i < rows; ++i) h[i] = i;
  unsigned s = 1;  // a fixed shuffle
  for (int i = rows - 1; i > 0; --i) {
    s = s * 1103515245u + 12345u;
    std::swap(h[i], h[s % static_cast<unsigned>(i + 1)]);
  }
  cudaMemcpy(order, h.data(), rows * sizeof(int), cudaMemcpyHostToDevice);
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  const char* names[] = {"contiguous 16-byte stores", "512-byte pieces of scattered rows (1 CTA/SM)",
                         "whole rows, scattered order", "cudaMemsetAsync",
                         "512-byte pieces of scattered rows (2 CTAs/SM)"};
  for (const bool dirty : {true, false}) {
    for (int pattern = 0; pattern < 5; ++pattern) {
      float best = 1e30f;
      for (int rep = 0; rep < 20; ++rep) {
        if (dirty) cudaMemsetAsync(flush, rep, flush_bytes);
        cudaEventRecord(start);
        switch (pattern) {
          case 0: contiguous<<<sms * 4, 256>>>(reinterpret_cast<uint4*>(c), bytes / 16); break;
          case 1: row_pieces<<<sms, 256>>>(c, order, rows, m); break;
          case 2: whole_rows<<<sms * 4, 256>>>(c, order, rows, m); break;
          case 3: cudaMemsetAsync(c, 0, bytes); break;
          case 4: row_pieces<<<sms * 2, 256>>>(c, order, rows, m); break;
        }
        cudaEventRecord(stop);
        cudaEventSynchronize(stop);
        float ms = 0;
        cudaEventElapsedTime(&ms, start, stop);
        if (ms < best) best = ms;
      }
      std::printf("%-10s %-46s %7.1f us  %5.2f TB/s\n", dirty ? "dirty L2" : "no flush", names[pattern], best * 1e3,
                  bytes / (best * 1e-3) / 1e12);
    }
  }
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) {
    std::fprintf(stderr, "write_pattern: %s\n", cudaGetErrorString(err));
    return 1;
  }
  return 0;
}

// Launch-floor micro-benchmark behind bench/NOTES.md ("What 15x at 99% would take"): the
// time tilesparse-bench's timer (an event before and after one launch, the L2 dirtied by
// a 256 MB memset first) gives a kernel that does nothing, and one whose CTAs each make
// the dependent global accesses a TW CTA cannot avoid (its item's first kept-row index,
// then the activation row it names, then a 16-byte store). Median of 50 runs each.
//   nvcc -arch=sm_90a -O3 -o launch_floor bench/micro/launch_floor.cu && ./launch_floor
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <vector>

__global__ void empty_kernel() {}

// CTA b: index = rows[b]; value = a[index * pitch + thread]; out[b * threads + thread] = value.
__global__ void dependent_loads(const int* rows, const uint4* a, std::size_t pitch, uint4* out) {
  const int row = rows[blockIdx.x];
  out[static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x] = a[row * pitch + threadIdx.x];
}

#define CHECK(x)                                                                    \
  do {                                                                              \
    cudaError_t e = (x);                                                            \
    if (e != cudaSuccess) {                                                         \
      std::printf("%s failed: %s\n", #x, cudaGetErrorString(e));                    \
      return 1;                                                                     \
    }                                                                               \
  } while (0)

int main() {
  const std::size_t flush_bytes = 256u << 20, a_rows = 4096, pitch = 4096 / 8;  // Aᵀ rows of 4096 halves
  void* flush = nullptr;
  int* rows = nullptr;
  uint4 *a = nullptr, *out = nullptr;
  CHECK(cudaMalloc(&flush, flush_bytes));
  CHECK(cudaMalloc(&rows, 1024 * sizeof(int)));
  CHECK(cudaMalloc(&a, a_rows * pitch * sizeof(uint4)));
  CHECK(cudaMalloc(&out, 1024 * 256 * sizeof(uint4)));
  std::vector<int> host_rows(1024);
  for (int i = 0; i < 1024; ++i) host_rows[i] = (i * 2654435761u) % a_rows;
  CHECK(cudaMemcpy(rows, host_rows.data(), host_rows.size() * sizeof(int), cudaMemcpyHostToDevice));
  cudaEvent_t start, stop;
  CHECK(cudaEventCreate(&start));
  CHECK(cudaEventCreate(&stop));

  auto median_us = [&](auto&& launch) {
    std::vector<float> us;
    for (int i = 0; i < 53; ++i) {
      cudaMemsetAsync(flush, i, flush_bytes);
      cudaEventRecord(start);
      launch();
      cudaEventRecord(stop);
      cudaEventSynchronize(stop);
      float ms = 0;
      cudaEventElapsedTime(&ms, start, stop);
      if (i >= 3) us.push_back(ms * 1e3f);
    }
    std::nth_element(us.begin(), us.begin() + us.size() / 2, us.end());
    return us[us.size() / 2];
  };

  std::printf("nothing between the events: %.2f us\n", median_us([] {}));
  for (int blocks : {1, 132, 264})
    std::printf("empty kernel, %d CTAs of 256 threads: %.2f us\n", blocks,
                median_us([&] { empty_kernel<<<blocks, 256>>>(); }));
  for (int blocks : {96, 264, 1024})
    std::printf("index -> row -> store, %d CTAs of 256 threads: %.2f us\n", blocks,
                median_us([&] { dependent_loads<<<blocks, 256>>>(rows, a, pitch, out); }));
  CHECK(cudaGetLastError());
  return 0;
}

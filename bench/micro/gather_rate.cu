// Gather-rate micro-benchmark behind bench/NOTES.md ("seventh"): how fast an SM brings in
// the TW wgmma kernel's gathered steps with no math at all. Each CTA (256 threads) runs
// the kernel's copy pattern for one (item, 128-row block) of an ffn2-like shape at 75%
// (Aᵀ of K = 4096 x M = 4096 halves, 32 MB; each item keeps a random 55% of K, 35 steps
// of 64 kept rows): per step, 64 kept rows x 256 bytes of Aᵀ into a 3-stage shared ring,
// two steps ahead, as four 16-byte copies per thread with their row indices loaded two
// steps before, and/or the step's 16 KB weight block as one bulk copy on an mbarrier.
// The Aᵀ copies are cp.async (as the kernel), cp.async with the .L2::256B qualifier, or
// none (the weight copy alone, as on the kernel's TMA path but without its activation
// boxes); the rows are the items' kept ones or consecutive ones. 4 items x 32 row blocks =
// 128 CTAs (about one per SM, ffn2 at 75%) or 8 items (256 CTAs, two per SM); lone CTAs
// also with 7 stages and/or 512 threads. L2 flushed (a 256 MB memset) or not. Printed: the
// median time of 20 launches, and the mean cycles a CTA spends per step (clock64 around
// its loop). Results: bench/NOTES.md, "eighth".
//   nvcc -std=c++17 -arch=sm_90a -O3 -o gather_rate bench/micro/gather_rate.cu && ./gather_rate
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

namespace {

constexpr int kBM = 128, kBK = 64;
constexpr int kK = 4096, kM = 4096, kSteps = 35, kKeptRows = kSteps * kBK;
constexpr int kStageA = kBM * kBK * 2, kStageW = 128 * kBK * 2, kStageBytes = kStageA + kStageW;

enum class Copy { none, cp_async, cp_async_l2_256 };

__device__ __forceinline__ std::uint32_t smem_address(const void* p) {
  return static_cast<std::uint32_t>(__cvta_generic_to_shared(p));
}

// CTA b: item b % items, row block b / items (m-block by m-block, as the kernel's raster).
// kThreads threads copy the gathered rows (256 as the kernel's CTA, or more warps for the same
// bytes); kStages stages of 32 KB, loads kStages - 1 steps ahead.
template <Copy kCopy, bool kWeight, int kStages = 3, int kThreads = 256>
__global__ void __launch_bounds__(kThreads, 1)
    gather_steps(const __half* at, const int* rows, int items, const std::uint8_t* weights, long long* cycles) {
  constexpr int kLookahead = kStages - 1;
  constexpr int kChunksPerThread = kBM * kBK / 8 / kThreads;  // 16-byte chunks (4 with 256 threads)
  constexpr int kRowsPerPass = kThreads / (kBM / 8);
  extern __shared__ __align__(1024) std::uint8_t smem[];
  const int tid = threadIdx.x, item = blockIdx.x % items, m0 = blockIdx.x / items * kBM;
  const int gather_c = tid % (kBM / 8), gather_r = tid / (kBM / 8);
  const int* item_rows = rows + static_cast<std::size_t>(item) * kKeptRows;
  const std::uint8_t* item_weights = weights + static_cast<std::size_t>(item) * kSteps * kStageW;
  const std::uint32_t base = smem_address(smem), barriers = base + kStages * kStageBytes;
  if (tid == 0) {
    for (int s = 0; s < kStages; ++s) asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;\n" ::"r"(barriers + 8 * s));
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();
  const long long start = clock64();

  int row_of[2][kChunksPerThread];
  auto load_rows = [&](int step, int(&out)[kChunksPerThread]) {
#pragma unroll
    for (int j = 0; j < kChunksPerThread; ++j) out[j] = item_rows[step * kBK + gather_r + j * kRowsPerPass];
  };
  auto issue = [&](int step, const int(&row)[kChunksPerThread]) {
    const int stage = step % kStages;
    const std::uint32_t dst = base + stage * kStageBytes + gather_r * 128 + (((gather_c % 8) ^ (gather_r % 8)) * 16) +
                              (gather_c / 8) * 64 * 128;
#pragma unroll
    for (int j = 0; j < kChunksPerThread; ++j) {
      const __half* src = at + static_cast<std::size_t>(row[j]) * kM + m0 + gather_c * 8;
      if constexpr (kCopy == Copy::cp_async)
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(dst + j * kRowsPerPass * 128), "l"(src) : "memory");
      if constexpr (kCopy == Copy::cp_async_l2_256)
        asm volatile("cp.async.cg.shared.global.L2::256B [%0], [%1], 16;\n" ::"r"(dst + j * kRowsPerPass * 128), "l"(src) : "memory");
    }
    if constexpr (kWeight) {
      if (tid == 0) {
        const std::uint32_t bar = barriers + 8 * stage;
        asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(kStageW) : "memory");
        asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(
                         base + stage * kStageBytes + kStageA),
                     "l"(item_weights + static_cast<std::size_t>(step) * kStageW), "r"(kStageW), "r"(bar)
                     : "memory");
      }
    }
    if constexpr (kCopy != Copy::none) asm volatile("cp.async.commit_group;\n" ::: "memory");
  };

  load_rows(0, row_of[0]);
  load_rows(1, row_of[1]);
  for (int s = 0; s < kLookahead; ++s) {
    issue(s, row_of[s % 2]);
    if (s + 2 < kSteps) load_rows(s + 2, row_of[s % 2]);
  }
  for (int step = 0; step < kSteps; ++step) {
    if constexpr (kCopy != Copy::none) asm volatile("cp.async.wait_group %0;\n" ::"n"(kLookahead - 1) : "memory");
    if constexpr (kWeight) {
      const std::uint32_t bar = barriers + 8 * (step % kStages);
      std::uint32_t done = 0;
      while (!done)
        asm volatile("{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
                     : "=r"(done)
                     : "r"(bar), "r"((step / kStages) & 1)
                     : "memory");
    }
    __syncthreads();  // the step's stage is complete; the stage of step - 1 is free
    const int next = step + kLookahead;
    if (next < kSteps) {
      issue(next, row_of[next % 2]);
      if (next + 2 < kSteps) load_rows(next + 2, row_of[next % 2]);
    } else if constexpr (kCopy != Copy::none) {
      asm volatile("cp.async.commit_group;\n" ::: "memory");
    }
  }
  if (tid == 0) cycles[blockIdx.x] = clock64() - start;
}

#define CHECK(x)                                                                    \
  do {                                                                              \
    cudaError_t e = (x);                                                            \
    if (e != cudaSuccess) {                                                         \
      std::printf("%s failed: %s\n", #x, cudaGetErrorString(e));                    \
      std::exit(1);                                                                 \
    }                                                                               \
  } while (0)

}  // namespace

int main() {
  const int max_items = 8, sms = [] {
    int v = 0;
    cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, 0);
    return v;
  }();
  const std::size_t flush_bytes = 256u << 20;
  void* flush = nullptr;
  __half* at = nullptr;
  int* rows = nullptr;
  std::uint8_t* weights = nullptr;
  long long* cycles = nullptr;
  CHECK(cudaMalloc(&flush, flush_bytes));
  CHECK(cudaMalloc(&at, static_cast<std::size_t>(kK) * kM * sizeof(__half)));
  CHECK(cudaMemset(at, 0, static_cast<std::size_t>(kK) * kM * sizeof(__half)));
  CHECK(cudaMalloc(&weights, static_cast<std::size_t>(max_items) * kSteps * kStageW));
  CHECK(cudaMemset(weights, 0, static_cast<std::size_t>(max_items) * kSteps * kStageW));
  CHECK(cudaMalloc(&cycles, 1024 * sizeof(long long)));
  // Each item keeps a random 55% of K (kKeptRows rows), ascending, as a TW tile does.
  std::vector<int> host_rows;
  std::mt19937 rng(7);
  for (int i = 0; i < max_items; ++i) {
    std::vector<int> all(kK);
    for (int r = 0; r < kK; ++r) all[r] = r;
    std::shuffle(all.begin(), all.end(), rng);
    std::sort(all.begin(), all.begin() + kKeptRows);
    host_rows.insert(host_rows.end(), all.begin(), all.begin() + kKeptRows);
  }
  CHECK(cudaMalloc(&rows, host_rows.size() * sizeof(int)));
  CHECK(cudaMemcpy(rows, host_rows.data(), host_rows.size() * sizeof(int), cudaMemcpyHostToDevice));
  // The same copies from consecutive rows (item i: rows i * kKeptRows / 2 ..., as a run).
  std::vector<int> run_rows;
  for (int i = 0; i < max_items; ++i)
    for (int r = 0; r < kKeptRows; ++r) run_rows.push_back((i * kKeptRows / 2 + r) % kK);
  int* consecutive_rows = nullptr;
  CHECK(cudaMalloc(&consecutive_rows, run_rows.size() * sizeof(int)));
  CHECK(cudaMemcpy(consecutive_rows, run_rows.data(), run_rows.size() * sizeof(int), cudaMemcpyHostToDevice));
  cudaEvent_t start, stop;
  CHECK(cudaEventCreate(&start));
  CHECK(cudaEventCreate(&stop));
  auto run = [&](auto kernel, const char* name, const int* item_rows, int stages = 3, int threads = 256,
                 std::initializer_list<int> item_counts = {4, 8}) {
    const int smem = stages * kStageBytes + 8 * stages;
    CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    for (int items : item_counts)
      for (bool flushed : {true, false}) {
        const int blocks = items * (kM / kBM);
        std::vector<float> us;
        for (int i = 0; i < 23; ++i) {
          if (flushed) cudaMemsetAsync(flush, i, flush_bytes);
          cudaEventRecord(start);
          kernel<<<blocks, threads, smem>>>(at, item_rows, items, weights, cycles);
          cudaEventRecord(stop);
          CHECK(cudaEventSynchronize(stop));
          float ms = 0;
          cudaEventElapsedTime(&ms, start, stop);
          if (i >= 3) us.push_back(ms * 1e3f);
        }
        CHECK(cudaGetLastError());
        std::vector<long long> c(blocks);
        CHECK(cudaMemcpy(c.data(), cycles, blocks * sizeof(long long), cudaMemcpyDeviceToHost));
        double mean = 0;
        for (long long v : c) mean += static_cast<double>(v) / blocks;
        std::nth_element(us.begin(), us.begin() + us.size() / 2, us.end());
        std::printf("%-30s %3d CTAs on %d SMs, %-9s %7.1f us, %6.0f cycles per step per CTA\n", name, blocks, sms,
                    flushed ? "flushed" : "warm L2", us[us.size() / 2], mean / kSteps);
      }
  };
  run(gather_steps<Copy::cp_async, false>, "cp.async gather", rows);
  run(gather_steps<Copy::cp_async, true>, "cp.async gather + weight", rows);
  run(gather_steps<Copy::none, true>, "weight only", rows);
  run(gather_steps<Copy::cp_async, true>, "consecutive rows + weight", consecutive_rows);
  run(gather_steps<Copy::cp_async_l2_256, true>, "L2::256B gather + weight", rows);
  // One CTA per SM: deeper rings, more warps for the same bytes.
  run(gather_steps<Copy::cp_async, true, 7>, "7 stages gather + weight", rows, 7, 256, {4});
  run(gather_steps<Copy::cp_async, true, 3, 512>, "512 threads gather + weight", rows, 3, 512, {4});
  run(gather_steps<Copy::cp_async, true, 7, 512>, "7 st. 512 thr. gather + weight", rows, 7, 512, {4});
  run(gather_steps<Copy::cp_async, false, 7>, "7 stages gather", rows, 7, 256, {4});
  run(gather_steps<Copy::none, true, 7>, "7 stages weight only", rows, 7, 256, {4});
  return 0;
}

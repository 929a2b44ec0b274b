#pragma once
// The launch-time choices the TW tensor-core kernels (tw_wgmma.cuh, tw_mma.cu) make the
// same way: which column-block instantiation (TwLaunch::bn) and which activation gather.
#include <cuda_runtime.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <type_traits>

#include "backends/cuda/check.hpp"
#include "backends/cuda/tw_launch.hpp"

namespace tilesparse::cuda {

// The row block (64 or 128) the environment variable `name` forces, for tuning runs; 0
// when it is unset or holds anything else.
inline int forced_row_block(const char* name) {
  const char* s = std::getenv(name);
  const int v = s != nullptr ? std::atoi(s) : 0;
  return v == 64 || v == 128 ? v : 0;
}

// Streaming multiprocessors of the current device, queried once per device.
inline int current_sm_count() {
  int device = 0;
  TS_CHECK(cudaGetDevice(&device));
  static std::array<std::atomic<int>, 64> known{};  // 0: not queried yet
  if (device >= 0 && device < static_cast<int>(known.size())) {
    if (const int sms = known[static_cast<std::size_t>(device)].load(std::memory_order_relaxed); sms > 0) return sms;
  }
  int sms = 0;
  TS_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  if (device >= 0 && device < static_cast<int>(known.size()))
    known[static_cast<std::size_t>(device)].store(sms, std::memory_order_relaxed);
  return sms;
}

// How a kernel brings the kept K rows of the activations into shared memory:
//  transposed_async: 16-byte cp.async runs of whole rows of Aᵀ (M % 8 == 0, aligned);
//  transposed_registers: Aᵀ element by element through registers (any M);
//  row_major_registers: A's scattered K columns element by element through registers;
//  row_major_runs (wgmma kernel only): no gather; every item with kept rows is a run
//   (TwItem::run_start), its steps TMA boxes of row-major A (wgmma_reads_row_major_a_in_place).
enum class TwGather { transposed_async, transposed_registers, row_major_registers, row_major_runs };

// Calls launch(std::integral_constant<int, BN>) for x.bn (32, 64 or 128).
template <class Launch>
void launch_by_column_block(const TwLaunch& x, const char* kernel, Launch&& launch) {
  switch (x.bn) {
    case 32: return launch(std::integral_constant<int, 32>{});
    case 64: return launch(std::integral_constant<int, 64>{});
    case 128: return launch(std::integral_constant<int, 128>{});
    default: fail("cuda", kernel, "unsupported column block " + std::to_string(x.bn), __FILE__, __LINE__);
  }
}

// Calls launch(y, std::integral_constant<TwGather, G>, std::bool_constant<OUT_TRANSPOSED>)
// with the fastest gather the call allows. Row-major A with the launcher's Aᵀ copy
// (x.a_transposed) takes the coalesced Aᵀ gather (y.a = that copy) and writes a row-major C.
template <class Launch>
void launch_by_gather(const TwLaunch& x, Launch&& launch) {
  using G = TwGather;
  const auto aligned = [](const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; };
  if (!x.transposed && x.a_transposed != nullptr && x.m % 8 == 0 && aligned(x.a_transposed)) {
    TwLaunch y = x;
    y.a = x.a_transposed;
    launch(y, std::integral_constant<G, G::transposed_async>{}, std::false_type{});
  } else if (!x.transposed) {
    launch(x, std::integral_constant<G, G::row_major_registers>{}, std::false_type{});
  } else if (x.m % 8 == 0 && aligned(x.a)) {
    launch(x, std::integral_constant<G, G::transposed_async>{}, std::true_type{});
  } else {
    launch(x, std::integral_constant<G, G::transposed_registers>{}, std::true_type{});
  }
}

}  // namespace tilesparse::cuda

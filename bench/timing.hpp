#pragma once
// Device timing for the benchmark: CUDA events around each run, an L2 flush before
// each run so the weight comes from HBM, the median over runs.
#include <functional>

#include "tilesparse/gpu.hpp"

namespace tilesparse::bench {

class Timer {
 public:
  // flush_bytes: size of the buffer written before each run (> L2 size).
  Timer(const gpu::Stream& stream, std::size_t flush_bytes);
  // Runs op `warmup` times, then `runs` times each between events after an L2 flush;
  // returns the median in microseconds.
  double median_us(const std::function<void()>& op, int warmup, int runs);

 private:
  const gpu::Stream& stream_;
  gpu::DeviceBuffer flush_;
};

}  // namespace tilesparse::bench

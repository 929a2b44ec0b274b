#include "bench/timing.hpp"

#include <cuda_runtime.h>

#include <algorithm>
#include <vector>

#include "tilesparse/core/error.hpp"

namespace tilesparse::bench {

namespace {

void check(cudaError_t s, const char* what) {
  require(s == cudaSuccess, "bench timer", std::string(what) + " failed: " + cudaGetErrorString(s));
}

struct Event {
  cudaEvent_t e = nullptr;
  Event() { check(cudaEventCreate(&e), "cudaEventCreate"); }
  ~Event() { cudaEventDestroy(e); }
  Event(const Event&) = delete;
  Event(Event&& o) noexcept : e(o.e) { o.e = nullptr; }
};

}  // namespace

Timer::Timer(const gpu::Stream& stream, std::size_t flush_bytes) : stream_(stream), flush_(flush_bytes) {}

double Timer::median_us(const std::function<void()>& op, int warmup, int runs) {
  require(runs > 0, "bench timer", "need at least one run");
  auto s = static_cast<cudaStream_t>(stream_.native());
  for (int i = 0; i < warmup; ++i) op();
  std::vector<Event> start(static_cast<std::size_t>(runs)), stop(static_cast<std::size_t>(runs));
  for (int i = 0; i < runs; ++i) {
    flush_.fill_bytes(static_cast<std::uint8_t>(i), stream_);  // evicts the previous run's operands from L2
    check(cudaEventRecord(start[i].e, s), "cudaEventRecord");
    op();
    check(cudaEventRecord(stop[i].e, s), "cudaEventRecord");
  }
  stream_.synchronize();
  std::vector<double> us(static_cast<std::size_t>(runs));
  for (int i = 0; i < runs; ++i) {
    float ms = 0;
    check(cudaEventElapsedTime(&ms, start[i].e, stop[i].e), "cudaEventElapsedTime");
    us[i] = ms * 1e3;
  }
  std::nth_element(us.begin(), us.begin() + runs / 2, us.end());
  return us[runs / 2];
}

}  // namespace tilesparse::bench

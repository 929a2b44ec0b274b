#pragma once
// Shared by the GPU conformance tests: skip with the reason when no GPU is present (so
// a GPU-less run reports Skipped, never Passed), and weights pruned for a pattern.
#include <optional>

#include "test_util.hpp"
#include "tilesparse/gpu.hpp"
#include "tilesparse/prune/project.hpp"

#define TILESPARSE_SKIP_WITHOUT_GPU()                                   \
  do {                                                                  \
    const auto gpu_info_ = ::tilesparse::gpu::device_info();            \
    if (!gpu_info_.present) GTEST_SKIP() << "no GPU: " << gpu_info_.reason; \
  } while (0)

namespace tilesparse::test {

inline PatternSpec spec_for(Pattern p) {
  PatternSpec s;
  s.pattern = p;
  if (p == Pattern::bw) s.bk = s.bn = 16;
  if (p == Pattern::tw || p == Pattern::tew) s.g = 8;
  return s;
}

// A random K x N weight of dtype pruned by magnitude to the pattern (sparsity 0.7 where
// the pattern does not fix it).
inline Weight pruned_weight(Pattern p, std::int64_t k, std::int64_t n, DType dt, std::uint64_t seed) {
  const PatternSpec spec = spec_for(p);
  const bool fixed = p == Pattern::dense || p == Pattern::nm || p == Pattern::sp24;
  return prune_magnitude(HostMatrix::random(k, n, dt, seed), spec, fixed ? std::nullopt : std::optional<double>(0.7));
}

}  // namespace tilesparse::test

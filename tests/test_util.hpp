#pragma once
// Helpers shared by the test files: random inputs (never zeros) and the DESIGN.md §5
// tolerance by dtype.
#include <gtest/gtest.h>

#include <random>

#include "backends/ref/matmul_ref.hpp"
#include "tilesparse/core/matrix.hpp"
#include "tilesparse/formats/weight.hpp"
#include "tilesparse/ops.hpp"

namespace tilesparse::test {

inline double tolerance(DType t) {
  switch (t) {
    case DType::f32: return 1e-5;
    case DType::f16: return 2e-3;
    case DType::bf16: return 1e-2;
  }
  return 0;
}

// Each element kept with probability p (seeded).
inline Mask random_mask(std::int64_t rows, std::int64_t cols, double p, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::bernoulli_distribution keep(p);
  Mask m(rows, cols, false);
  for (auto& k : m.keep) k = keep(gen) ? 1 : 0;
  return m;
}

// The reference matmul of `w` against the dense matmul of to_dense(w), both in double.
inline void expect_matches_dense(const Weight& w, std::int64_t m, std::uint64_t seed) {
  const HostMatrix a = HostMatrix::random(m, k_of(w), DType::f32, seed);
  HostMatrix got, want;
  matmul(a, w, got);
  matmul(a, Weight(DenseWeight{to_dense(w)}), want);
  EXPECT_LE(relative_error(got, want), 1e-6) << "pattern " << to_string(pattern_of(w));
}

}  // namespace tilesparse::test

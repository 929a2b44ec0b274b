#pragma once
// GPU timing of pruned layers for the demo: each layer in fp16 through gpu::matmul (its
// pattern's kernel) against cuBLAS on the same dense weight, in both activation layouts.
#include <iosfwd>
#include <string>
#include <utility>
#include <vector>

#include "tilesparse/formats/weight.hpp"

namespace tilesparse::cli {

// Prints one row per (layer, layout) with the mean time of `calls` back-to-back calls for
// a batch of m activation rows, or one line saying why nothing was timed (no CUDA build,
// no GPU, no kernel for the pattern).
void print_gpu_speed(const std::vector<std::pair<std::string, Weight>>& layers, std::int64_t m, std::ostream& out);

}  // namespace tilesparse::cli

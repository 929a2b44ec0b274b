#pragma once
// The end-to-end breakdown of the TW paper for one layer chain (BERT-large FFN by
// default: M x 1024 -> 4096, bias + GELU -> 1024, bias): the TW chain with and without
// the transposed activation layout, with and without the fused epilogue, against the
// dense cuBLAS chain in each layout (whose epilogue is always a separate pass).
#include <cstdint>
#include <vector>

#include "bench/common.hpp"

namespace tilesparse::bench {

struct ChainConfig {
  std::int64_t m = 4096;
  std::vector<std::int64_t> dims = {1024, 4096, 1024};  // features: input, hidden..., output
  std::int64_t g = 128;
  double sparsity = 0.75;
  std::vector<gpu::Layout> layouts = {gpu::Layout::row_major, gpu::Layout::transposed};
  std::string tw_kernel;  // empty: the table's choice; else forced for the TW layers (--kernel)
};

// Measures every variant for one dtype, prints a table, writes one row per variant
// (op "chain", a "chain" field naming it); returns false when a check failed.
bool run_chain(Context& ctx, const ChainConfig& cfg, DType dtype);

}  // namespace tilesparse::bench

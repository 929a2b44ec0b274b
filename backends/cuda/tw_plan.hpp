#pragma once
// Host side of the TW kernels' device form (tw_item.hpp): the work items, padded kept
// rows, column list and packed values of a TW weight, before upload. Pure C++, compiled in
// every build (no CUDA), so the CPU tests check the plan the GPU kernels will read.
#include <cstdint>
#include <vector>

#include "backends/cuda/tw_item.hpp"
#include "tilesparse/formats/tw.hpp"

namespace tilesparse::cuda {

struct TwHostPlan : TwPlanShape {
  std::vector<TwItem> items;         // heaviest first, then the pruned-column items
  std::vector<std::int32_t> rows;    // per item with kept rows, a slot of rows_stride (kTwMinSlotSteps)
  std::vector<std::int32_t> cols;    // n entries: kept columns tile by tile, then the pruned ones
  std::vector<float> values;         // per item, laid out as `packing` says (TwPacking)
};

// Column block of an item: the smallest of 32/64/128 that holds a tile of g columns
// (wider tiles are split into several items of 128).
int tw_column_block(std::int64_t g);

// Throws Error (naming `op`) when K or N do not fit int32.
TwHostPlan make_tw_plan(const TwWeight& w, TwPacking packing, const char* op);

}  // namespace tilesparse::cuda

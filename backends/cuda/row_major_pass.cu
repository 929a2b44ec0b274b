// The pass before a row-major call of the TW tensor-core kernels (RowMajorPass): one launch
// whose first blocks copy A's kept columns into Aᵀ and whose other blocks, when asked,
// fill C with activation(bias).
//
// The copy is a transpose through 64 x 64 shared-memory tiles. Copying every column of A,
// it moves 8 bytes (4 values) per thread and access where the shape allows: each thread
// reads 4 consecutive columns of an input row and writes 4 consecutive columns of an
// output row, so both sides are coalesced 8-byte accesses (the 2-byte version ran at
// about half the copy bandwidth, bench/NOTES.md). Copying the listed columns only (or
// rows of the input whose length is not a multiple of 4), the reads are one value per
// column, a warp's 32 from 32 consecutive listed columns of one row, so that they share
// sectors as far as the columns' spread allows (16 columns 4 apart in the list, two rows
// per warp, touched ~3.5x the sectors per value at 99% on qkv); the writes are as before.
// Output rows whose length is not a multiple of 4 are written value by value.
//
// The fill writes every element of C, 8 per 16-byte store where C allows: the tensor-core
// kernel then writes only the columns of the tiles with kept rows over it, and the pruned
// columns, which it would write as short scattered pieces of each row, cost what a memset
// of C costs.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>

#include "backends/cuda/check.hpp"
#include "backends/cuda/element_ops.cuh"
#include "backends/cuda/tw_launch.hpp"

namespace tilesparse::cuda {

namespace {

constexpr int kTile = 64;             // values per tile side
constexpr int kVec = 4;               // values per 8-byte access
constexpr int kLanes = kTile / kVec;  // 16 threads across a tile row
constexpr int kRowsPerPass = 16;      // 16 x 16 = 256 threads
constexpr int kThreads = kLanes * kRowsPerPass;
// Odd row pitch (in 2-byte values): the store phase reads column i of rows 4·lane + j,
// 4 x 65 values (130 words) apart per lane, so the 16 lanes hit 16 different banks. The
// price: the load phase writes shared memory value by value (an odd pitch breaks 8-byte
// alignment).
constexpr int kPitch = kTile + 1;
// Units of C (16 bytes where C allows) per fill thread: ~800 blocks for a 25 MB C.
constexpr int kFillUnitsPerThread = 8;

union Vec4 {
  uint2 bits;
  std::uint16_t v[kVec];
};

// out (k_out x m) = A's columns a_cols (all of them when null) transposed; A is m x k.
// Each thread loads its 4 rows' values before it stores any of them (4 loads in flight,
// where one at a time kept a thread waiting on each in turn), through the read-only path.
__device__ __forceinline__ void copy_tile(const RowMajorPass& p, std::int64_t tile, std::int64_t k_out) {
  constexpr int kPasses = kTile / kRowsPerPass;
  __shared__ std::uint16_t staged[kTile][kPitch];
  const auto* __restrict__ in = static_cast<const std::uint16_t*>(p.a);
  auto* __restrict__ out = static_cast<std::uint16_t*>(p.a_transposed);
  const std::int64_t tiles_across = (k_out + kTile - 1) / kTile;
  const std::int64_t c0 = tile % tiles_across * kTile, r0 = tile / tiles_across * kTile;
  const int lane = threadIdx.x % kLanes, pass = threadIdx.x / kLanes, c = lane * kVec;

  if (p.a_cols != nullptr || p.k % kVec != 0) {
    // Load, one value per column: a warp takes 32 consecutive listed columns of one input
    // row (rows r0 + warp + 8 i, output columns c0 + lane and c0 + lane + 32), so that
    // its 32 values lie in as few sectors as the columns' spread allows; 16 loads in flight
    // per thread.
    constexpr int kWarps = kThreads / 32, kRowsPerWarp = kTile / kWarps;
    const int lane32 = threadIdx.x % 32, warp = threadIdx.x / 32;
    std::int32_t col[2];  // A's column, -1 past the last (K < 2^31: make_tw_plan)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const std::int64_t at = c0 + lane32 + 32 * h;
      col[h] = at >= k_out ? -1 : p.a_cols != nullptr ? __ldg(p.a_cols + at) : static_cast<std::int32_t>(at);
    }
    std::uint16_t x[kRowsPerWarp][2];
#pragma unroll
    for (int i = 0; i < kRowsPerWarp; ++i) {
      const std::int64_t r = r0 + warp + i * kWarps;
#pragma unroll
      for (int h = 0; h < 2; ++h) x[i][h] = r < p.m && col[h] >= 0 ? __ldg(in + r * p.k + col[h]) : 0;
    }
#pragma unroll
    for (int i = 0; i < kRowsPerWarp; ++i)
#pragma unroll
      for (int h = 0; h < 2; ++h) staged[warp + i * kWarps][lane32 + 32 * h] = x[i][h];
  } else {
    // Load, 4 consecutive columns a thread: input rows r0 + pass + 16 i, output columns
    // c0 + c .. c + 3, one 8-byte load each.
    const bool in_k = c0 + c < k_out;
    Vec4 x[kPasses];
#pragma unroll
    for (int i = 0; i < kPasses; ++i) {
      const std::int64_t r = r0 + pass + i * kRowsPerPass;
      x[i].bits = r < p.m && in_k ? __ldg(reinterpret_cast<const uint2*>(in + r * p.k + c0 + c)) : make_uint2(0, 0);
    }
#pragma unroll
    for (int i = 0; i < kPasses; ++i)
#pragma unroll
      for (int j = 0; j < kVec; ++j) staged[pass + i * kRowsPerPass][c + j] = x[i].v[j];
  }
  __syncthreads();

  // Store: output row c0 + i, columns r0 + c .. c + 3 (input rows).
  const bool store_vectors = p.m % kVec == 0;
#pragma unroll
  for (int i = pass; i < kTile; i += kRowsPerPass) {
    const std::int64_t oc = c0 + i;
    if (oc >= k_out) break;
    Vec4 y;
    for (int j = 0; j < kVec; ++j) y.v[j] = staged[c + j][i];
    if (store_vectors && r0 + c < p.m) {
      *reinterpret_cast<uint2*>(out + oc * p.m + r0 + c) = y.bits;
    } else {
      for (int j = 0; j < kVec; ++j)
        if (r0 + c + j < p.m) out[oc * p.m + r0 + c + j] = y.v[j];
    }
  }
}

// Fill thread `thread` of `threads`: C[i][j] = activation(bias[j]) (0 without bias) in
// units of 8 consecutive columns (one 16-byte store) where N and C allow, else of one.
// A thread keeps one unit of columns and walks down the rows, so its value (a GELU per
// column) is computed once; the threads past the last whole set of a row's units idle
// (launch_row_major_pass starts at least one set).
template <class T>
__device__ __forceinline__ void fill_c(const RowMajorPass& p, std::int64_t thread, std::int64_t threads) {
  T* c = static_cast<T*>(p.c);
  const bool vector = p.n % 8 == 0 && reinterpret_cast<std::uintptr_t>(c) % 16 == 0;
  const std::int64_t row_units = vector ? p.n / 8 : p.n, rows_at_once = threads / row_units;
  if (thread >= rows_at_once * row_units) return;
  const std::int64_t unit = thread % row_units;
  with_activation(p.activation, [&](auto activation) {
    const auto value = [&](std::int64_t col) { return activate(p.bias != nullptr ? p.bias[col] : 0.0f, activation); };
    if (vector) {
      union {
        uint4 u;
        T t[8];
      } pack;
#pragma unroll
      for (int t = 0; t < 8; ++t) store_value(&pack.t[t], value(unit * 8 + t));
      for (std::int64_t r = thread / row_units; r < p.m; r += rows_at_once) reinterpret_cast<uint4*>(c + r * p.n)[unit] = pack.u;
    } else {
      T v;
      store_value(&v, value(unit));
      for (std::int64_t r = thread / row_units; r < p.m; r += rows_at_once) c[r * p.n + unit] = v;
    }
  });
}

template <class T>
__global__ void __launch_bounds__(kThreads) row_major_pass_kernel(RowMajorPass p, std::int64_t copy_blocks,
                                                                  std::int64_t fill_blocks) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  // The TW kernel behind this pass (TwLaunch::after_pass) may launch once every block of
  // the pass has started: it waits for the pass's end before it reads or writes anything
  // the pass touches.
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
  const std::int64_t block = blockIdx.x;
  if (block < copy_blocks) {
    copy_tile(p, block, p.a_cols != nullptr ? p.a_col_count : p.k);
  } else {
    fill_c<T>(p, (block - copy_blocks) * kThreads + threadIdx.x, fill_blocks * kThreads);
  }
}

}  // namespace

void launch_row_major_pass(const RowMajorPass& p, DType dtype) {
  const std::int64_t k_out = p.a_cols != nullptr ? p.a_col_count : p.k;
  const std::int64_t copy_blocks = p.m == 0 ? 0 : (k_out + kTile - 1) / kTile * ((p.m + kTile - 1) / kTile);
  // ~8 units of C per fill thread, and at least one thread per unit of a row.
  const std::int64_t row_units = p.n % 8 == 0 && reinterpret_cast<std::uintptr_t>(p.c) % 16 == 0 ? p.n / 8 : p.n;
  const std::int64_t fill_threads =
      p.c == nullptr || p.m == 0 ? 0 : std::max(row_units, p.m * row_units / kFillUnitsPerThread);
  const std::int64_t fill_blocks = (fill_threads + kThreads - 1) / kThreads;
  const std::int64_t blocks = copy_blocks + fill_blocks;
  if (blocks == 0) return;
  if (blocks > 0x7fffffff) fail("cuda", "row_major_pass_kernel", "matrix too large for one launch", __FILE__, __LINE__);
  const dim3 grid(static_cast<unsigned>(blocks));
  if (dtype == DType::f16) {
    row_major_pass_kernel<__half><<<grid, kThreads, 0, p.stream>>>(p, copy_blocks, fill_blocks);
  } else if (dtype == DType::bf16) {
    row_major_pass_kernel<__nv_bfloat16><<<grid, kThreads, 0, p.stream>>>(p, copy_blocks, fill_blocks);
  } else {
    fail("cuda", "row_major_pass_kernel", "16-bit values only (f16, bf16)", __FILE__, __LINE__);
  }
  TS_CHECK_LAUNCH("row_major_pass_kernel");
}

}  // namespace tilesparse::cuda

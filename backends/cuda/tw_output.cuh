#pragma once
// The epilogue the TW tensor-core kernels share (tw_wgmma.cuh, tw_mma.cu). Each kernel
// stages its fp32 output block (BM activation rows x BN item columns) in shared memory
// from its own accumulator fragments (OutputStaging::store_pair), then write_output
// finishes it along the contiguous axis of C, so that global stores are coalesced:
//   out = activation(acc + bias[original column] (+ the value C holds, when accumulate:
//   the TEW residual)), converted to T and written to the original column
//   cols[col_begin + j] (a row of Cᵀ when the output is transposed), or, for a compact C,
//   to its column col_begin + j.
// Shared by all three TW kernels (tw_simt.cu too): start_item, each CTA's work item and
// the direct write of columns without kept rows into a transposed C.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "backends/cuda/element_ops.cuh"
#include "backends/cuda/tw_launch.hpp"

namespace tilesparse::cuda::tw_output {

// The staged block in shared memory, followed by the item's original column indices and
// biases (BN each):
//  * transposed output: [column][m], pitch BM + 4. An mma/wgmma accumulator store of a
//    warp (lanes: m = m0 + l/4, column = c0 + 2(l%4)) hits banks 4·column + m = const +
//    8(l%4) + l/4, all 32 distinct.
//  * row-major output: [m][column], pitch BN + 8 (= 8 mod 32 for BN 32, 64, 128). The
//    float2 stores of a half warp hit banks 8(l/4) + 2(l%4) (+1), all distinct.
template <int BM, int BN, bool kTransposed>
struct OutputStaging {
  static constexpr int kPitch = kTransposed ? BM + 4 : BN + 8;
  static constexpr int kStagedFloats = kTransposed ? BN * kPitch : BM * kPitch;
  static constexpr int kBytes = (kStagedFloats + 2 * BN) * 4;

  // Accumulators of (row r, columns col and col + 1): mma and wgmma fragments both hold
  // pairs of neighbouring columns of one row.
  __device__ __forceinline__ static void store_pair(float* staged, int r, int col, float v0, float v1) {
    if constexpr (kTransposed) {
      staged[col * kPitch + r] = v0;
      staged[(col + 1) * kPitch + r] = v1;
    } else {
      *reinterpret_cast<float2*>(staged + r * kPitch + col) = make_float2(v0, v1);
    }
  }
};

// The original index of item column `tid` (0 past the item's columns), for write_output:
// loaded when the CTA starts (kernels with at least BN threads), so that the epilogue
// waits on one load (the bias) instead of two in a row.
__device__ __forceinline__ std::int32_t load_column_index(const TwLaunch& x, const TwItem& item, int tid) {
  return tid < item.cols ? x.cols[item.col_begin + tid] : 0;
}

// Writes the block staged at `smem` (OutputStaging layout, every store_pair done) for
// rows m0.. of `item`. `threads` (>= BN) threads take part, tid counted from the first of
// them; `column_index` is load_column_index(x, item, tid); `sync` is their barrier. The
// caller has made sure (its own barrier) that the staging does not overwrite shared
// memory still being read.
template <class T, int BM, int BN, bool kTransposed, class Sync>
__device__ __forceinline__ void write_output(const TwLaunch& x, const TwItem& item, std::int64_t m0,
                                             std::uint8_t* smem, int tid, int threads, std::int32_t column_index,
                                             Sync sync) {
  using Staging = OutputStaging<BM, BN, kTransposed>;
  constexpr int kPitch = Staging::kPitch;
  const float* staged = reinterpret_cast<const float*>(smem);
  std::int32_t* col_index = reinterpret_cast<std::int32_t*>(smem) + Staging::kStagedFloats;
  float* col_bias = reinterpret_cast<float*>(smem) + Staging::kStagedFloats + BN;
  if (tid < BN) {
    col_index[tid] = column_index;
    col_bias[tid] = x.bias != nullptr && tid < item.cols ? x.bias[column_index] : 0.0f;
  }
  sync();

  T* c = static_cast<T*>(x.c);
  with_activation(x.activation, [&](auto activation) {
    const auto finish = [&](float v, float bias, const T* old) {
      v += bias;
      if (x.accumulate) v += load_value(old);
      return activate(v, activation);
    };
    // 8 consecutive sums into out, 16-byte aligned: one 16-byte store; bias[t * bias_step]
    // for element t.
    static_assert(sizeof(T) == 2, "16-bit outputs: 8 per 16-byte store");
    const auto store8 = [&](T* out, const float (&sums)[8], const float* bias, int bias_step) {
      union {
        uint4 u;
        T t[8];
      } pack;
      if (x.accumulate) pack.u = *reinterpret_cast<const uint4*>(out);
#pragma unroll
      for (int t = 0; t < 8; ++t) {
        float y = sums[t] + bias[t * bias_step];
        if (x.accumulate) y += static_cast<float>(pack.t[t]);
        store_value(&pack.t[t], activate(y, activation));
      }
      *reinterpret_cast<uint4*>(out) = pack.u;
    };
    // store8 of 8 sums v, 16-byte aligned in the staging: two 16-byte shared loads.
    const auto store8_staged = [&](T* out, const float* v, const float* bias, int bias_step) {
      const float4 lo = reinterpret_cast<const float4*>(v)[0], hi = reinterpret_cast<const float4*>(v)[1];
      const float sums[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
      store8(out, sums, bias, bias_step);
    };
    const bool c_aligned = reinterpret_cast<std::uintptr_t>(c) % 16 == 0;
    if constexpr (kTransposed) {
      // Runs of 8 consecutive m of one Cᵀ row per thread (the staging pitch keeps them
      // aligned), one 16-byte store where C allows.
      const bool vector = x.m % 8 == 0 && c_aligned;
      for (int i = tid; i < item.cols * (BM / 8); i += threads) {
        const int col = i / (BM / 8), r = (i % (BM / 8)) * 8;
        const std::int64_t m = m0 + r;
        if (m >= x.m) continue;
        const std::int64_t out_col = x.compact ? item.col_begin + col : col_index[col];
        T* out = c + out_col * x.m + m;
        const float* v = staged + col * kPitch + r;
        if (vector) {
          store8_staged(out, v, col_bias + col, 0);
        } else {
          for (int t = 0; t < 8 && m + t < x.m; ++t) store_value(out + t, finish(v[t], col_bias[col], out + t));
        }
      }
    } else if (x.row_major_windows) {  // never with x.accumulate (tw_matmul.cpp)
      // The item's window of each of its C rows (TwItem::window_begin): its columns and
      // the pruned ones among them, as groups of 8 consecutive columns, one 16-byte store
      // per group and row where the group lies inside the window and C allows. A pruned
      // column's value, activation(bias), is the same in every row: once per group and
      // thread. Where the window holds pruned columns, the bias and activation of the kept
      // sums are applied first, once per element in the staging, as the groups mix kept and
      // pruned columns lane by lane (per element in the store loop, GELU then ran for
      // every column of C: bias-GELU ffn1 at 75% 63.6 against 97.8 µs, bench/NOTES.md
      // "ninth"); where the window is the item's own run (as at 0%), in the store loop,
      // beside the stores (in the staging first: 99.0 against 81.0 µs at 0%). Lanes take
      // consecutive groups (a warp writes 512 contiguous bytes of a row), each finding its
      // group's kept columns once in the item's increasing column list.
      float* sums = reinterpret_cast<float*>(smem);
      const bool applies = x.bias != nullptr || decltype(activation)::value != 0;
      const bool in_staging = applies && item.window_end - item.window_begin > item.cols;
      const bool in_store_loop = applies && !in_staging;
      if (in_staging) {
        for (int i = tid; i < BM * BN; i += threads) {
          const int r = i / BN, j = i % BN;
          if (j < item.cols) sums[r * kPitch + j] = activate(sums[r * kPitch + j] + col_bias[j], activation);
        }
        sync();
      }
      const std::int32_t lo = item.window_begin, hi = item.window_end;
      const int first_group = lo / 8, groups = (hi + 7) / 8 - first_group;
      const int lanes = min(groups, threads), row_lanes = threads / lanes;
      const int lane = tid % lanes, row_lane = tid / lanes;
      const bool vector = x.n_out % 8 == 0 && c_aligned;
      for (int g = lane; row_lane < row_lanes && g < groups; g += lanes) {
        const std::int32_t c0 = (first_group + g) * 8;
        int j = 0;  // the item's first column at or past c0
        for (int span = item.cols; span > 0;) {
          const int half = span / 2;
          if (col_index[j + half] < c0) {
            j += half + 1;
            span -= half + 1;
          } else {
            span = half;
          }
        }
        int staged_col[8];  // -1: a pruned column (or one outside the window)
        // pruned: activation(bias) of a pruned column. Only a window with pruned columns
        // stores it; elsewhere bias is 0 without activation, or every stored column is kept.
        float bias[8], pruned[8];
#pragma unroll
        for (int t = 0; t < 8; ++t) {
          const std::int32_t col = c0 + t;
          const bool kept = j < item.cols && col_index[j] == col;
          staged_col[t] = kept ? j++ : -1;
          bias[t] = x.bias != nullptr && col >= lo && col < hi ? x.bias[col] : 0.0f;
          pruned[t] = in_staging ? activate(bias[t], activation) : bias[t];
        }
        const bool whole = vector && c0 >= lo && c0 + 8 <= hi;
        // All 8 kept, 8 consecutive staged values starting on a 16-byte boundary (the runs
        // of low sparsities): two 16-byte shared loads instead of 8 single ones.
        const bool staged_run = whole && staged_col[0] >= 0 && staged_col[0] % 4 == 0 && staged_col[7] == staged_col[0] + 7;
        for (int r = row_lane; r < BM && m0 + r < x.m; r += row_lanes) {
          const float* row = sums + r * kPitch;
          T* out = c + (m0 + r) * x.n_out + c0;
          if (staged_run && in_store_loop) {  // 8 kept columns: bias and activation for all, no test per element
            store8_staged(out, row + staged_col[0], bias, 1);
            continue;
          }
          float v[8];
          if (staged_run) {
            const float4 a = reinterpret_cast<const float4*>(row + staged_col[0])[0];
            const float4 b = reinterpret_cast<const float4*>(row + staged_col[0])[1];
            v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
          } else {
#pragma unroll
            for (int t = 0; t < 8; ++t) v[t] = staged_col[t] >= 0 ? row[staged_col[t]] : pruned[t];
          }
          if (in_store_loop) {  // every column of the window kept
#pragma unroll
            for (int t = 0; t < 8; ++t)
              if (staged_col[t] >= 0) v[t] = activate(v[t] + bias[t], activation);
          }
          union {
            uint4 u;
            T t[8];
          } pack;
#pragma unroll
          for (int t = 0; t < 8; ++t) store_value(&pack.t[t], v[t]);
          if (whole) {
            *reinterpret_cast<uint4*>(out) = pack.u;
          } else {
            for (int t = 0; t < 8; ++t)
              if (c0 + t >= lo && c0 + t < hi) out[t] = pack.t[t];
          }
        }
      }
    } else {
      // The item's columns are consecutive columns of C (TwItem::col_run, as at low
      // sparsity; every item of a compact C): runs of 8 of one C row per thread, one
      // 16-byte store where C allows (for a compact C, pieces at C's 8-element boundaries
      // where its rows are not 16-byte aligned). Otherwise consecutive threads take
      // consecutive columns of one C row, one element each.
      const std::int64_t first_col = x.compact ? item.col_begin : item.col_run;
      if (first_col >= 0 && first_col % 8 == 0 && x.n_out % 8 == 0 && c_aligned) {
        for (int i = tid; i < BM * (BN / 8); i += threads) {
          const int r = i / (BN / 8), col = (i % (BN / 8)) * 8;
          const std::int64_t m = m0 + r;
          if (col >= item.cols || m >= x.m) continue;
          T* out = c + m * x.n_out + first_col + col;
          const float* v = staged + r * kPitch + col;
          if (col + 8 <= item.cols) {
            store8_staged(out, v, col_bias + col, 1);
          } else {
            for (int t = 0; col + t < item.cols; ++t) store_value(out + t, finish(v[t], col_bias[col + t], out + t));
          }
        }
      } else if (x.compact && c_aligned) {
        // A compact C whose rows do not start on 16-byte boundaries (its width, the kept
        // column count, is not a multiple of 8, or the item starts between two): each row's
        // run is cut at C's own 8-element boundaries, kPieces pieces a row (the first and last
        // may be partial, stored element by element), one 16-byte store per whole piece, where
        // one 2-byte store per element made qkv at 99% (308 columns) 7 µs slower than the
        // transposed layout (bench/NOTES.md "tenth", round 54). Not for a full C: there the
        // runs of pruned-column items start anywhere, and their partial pieces, one thread
        // each, made the large-M 80% rows up to 42% slower than a warp's 64-byte element
        // stores (round 55).
        constexpr int kPieces = BN / 8 + 1;
        for (int i = tid; i < BM * kPieces; i += threads) {
          const int r = i / kPieces, piece = i % kPieces;
          const std::int64_t m = m0 + r;
          if (m >= x.m) continue;
          const std::int64_t begin = m * x.n_out + first_col;  // C's element of the run's first column
          const int skew = static_cast<int>(begin % 8);
          const int j0 = piece * 8 - skew;  // item column of the piece's first element
          if (j0 >= item.cols) continue;
          T* out = c + (begin - skew) + piece * 8;
          const float* v = staged + r * kPitch;
          if (j0 >= 0 && j0 + 8 <= item.cols) {
            float sums[8];
#pragma unroll
            for (int t = 0; t < 8; ++t) sums[t] = v[j0 + t];
            store8(out, sums, col_bias + j0, 1);
          } else {
            for (int t = max(0, -j0); t < 8 && j0 + t < item.cols; ++t)
              store_value(out + t, finish(v[j0 + t], col_bias[j0 + t], out + t));
          }
        }
      } else {
        for (int i = tid; i < BM * BN; i += threads) {
          const int r = i / BN, col = i % BN;
          const std::int64_t m = m0 + r;
          if (col >= item.cols || m >= x.m) continue;
          const std::int64_t out_col = x.compact ? item.col_begin + col : col_index[col];
          T* out = c + m * x.n_out + out_col;
          store_value(out, finish(staged[r * kPitch + col], col_bias[col], out));
        }
      }
    }
  });
}

// A work item without kept rows (the columns a weight prunes entirely, or a tile whose
// rows are all pruned, which a compact C still holds) when C is transposed: every element
// of output column n is activation(bias[n]) (plus what C holds: the TEW residual), so
// nothing is computed or staged. The item's m_blocks CTAs share it out: CTA `part` writes
// the item's columns part, part + m_blocks, ... as whole rows of Cᵀ (all M, 16-byte
// stores where M and C allow). Whole rows, not a BM-row piece of every column: after a
// dirty-L2 flush on the H200, 25 MB written as whole 8 KB rows took 9.6 µs, as 512-byte
// pieces of scattered rows 20.7 µs (bench/NOTES.md). A row-major C has its pruned
// columns written in the windows of the items with a tile (TwLaunch::row_major_windows),
// or, where the plan has none, by these items through the general epilogue.
template <class T>
__device__ __forceinline__ void write_pruned_columns_transposed(const TwLaunch& x, const TwItem& item, int part,
                                                                int m_blocks, int tid, int threads) {
  T* c = static_cast<T*>(x.c);
  constexpr int kPer = 16 / sizeof(T);  // elements per 16-byte store
  // Columns whose index and bias are loaded before any of them is written: the loads of a
  // column issued after the previous column's stores waited behind them (ncu, qkv at 75%:
  // a quarter of the warps' samples were in this loop, half of them on one index load).
  constexpr int kBatch = 4;
  const bool vector = x.m % kPer == 0 && reinterpret_cast<std::uintptr_t>(c) % 16 == 0;
  for (int first = part; first < item.cols; first += kBatch * m_blocks) {
    std::int32_t n[kBatch];
    float bias[kBatch];
#pragma unroll
    for (int b = 0; b < kBatch; ++b) {
      const int col = first + b * m_blocks;
      n[b] = col < item.cols ? x.cols[item.col_begin + col] : 0;
    }
#pragma unroll
    for (int b = 0; b < kBatch; ++b) bias[b] = x.bias != nullptr && first + b * m_blocks < item.cols ? x.bias[n[b]] : 0.0f;
#pragma unroll
    for (int b = 0; b < kBatch; ++b) {
      const int col = first + b * m_blocks;
      if (col >= item.cols) break;
      T* row = c + static_cast<std::int64_t>(x.compact ? item.col_begin + col : n[b]) * x.m;
      if (vector) {
        union {
          uint4 u;
          T t[kPer];
        } pack;
        if (!x.accumulate) {
          T v;
          store_value(&v, activate(bias[b], x.activation));
#pragma unroll
          for (int e = 0; e < kPer; ++e) pack.t[e] = v;
        }
        for (std::int64_t i = tid; i < x.m / kPer; i += threads) {
          uint4* out = reinterpret_cast<uint4*>(row + i * kPer);
          if (x.accumulate) {
            pack.u = *out;
#pragma unroll
            for (int e = 0; e < kPer; ++e)
              store_value(&pack.t[e], activate(bias[b] + load_value(&pack.t[e]), x.activation));
          }
          *out = pack.u;
        }
      } else {
        for (std::int64_t m = tid; m < x.m; m += threads) {
          const float old = x.accumulate ? load_value(row + m) : 0.0f;
          store_value(row + m, activate(bias[b] + old, x.activation));
        }
      }
    }
  }
}

// Items per raster group: the launch runs the items with kept rows (heaviest first) in
// groups of this many, and a group m-block by m-block (its items' CTAs of m-block 0, then
// of m-block 1, ...), so the CTAs in flight at a time read the same activation rows, from
// L2 once they are there. Item after item, a wave of CTAs covered all M for two or three
// items and read all of A again each wave, from DRAM when A is past L2 (bench/NOTES.md:
// K = 4096, M = 12288, a 100 MB A). The items without kept rows stay after all of them,
// item after item: mixed into a group, their writes slowed the math (bench/NOTES.md).
constexpr int kItemGroup = 8;

// This CTA's work item (its index in x.items) and m-block: blockIdx.x in the raster of
// kItemGroup.
struct RasterPosition {
  int item, part;
};
__device__ __forceinline__ RasterPosition raster_position(const TwLaunch& x, int m_blocks) {
  const int block = static_cast<int>(blockIdx.x);
  const int kept_items = static_cast<int>(x.kept_items);  // they come first: items are heaviest first
  int item_index, part;
  if (block < kept_items * m_blocks) {
    const int group = x.one_wave ? 1 : kItemGroup;  // one wave: item after item (bench/NOTES.md "sixth")
    const int first = block / (group * m_blocks) * group;  // the group's first item
    const int group_items = min(group, kept_items - first);
    const int in_group = block - first * m_blocks;
    item_index = first + in_group % group_items;
    part = in_group / group_items;
  } else {  // items without kept rows, one after the other, after all the math
    item_index = block / m_blocks;
    part = block - item_index * m_blocks;
  }
  return {item_index, part};
}

// The start every TW kernel makes (tw_wgmma.cuh, tw_mma.cu, tw_simt.cu): the work item at
// `at` (raster_position) and the first activation row m0 of its m-block. False when the
// CTA has nothing left to do: the item holds pruned columns and C is compact, or C is
// transposed and the item has no kept rows, whose share of whole Cᵀ rows this call has
// just written.
template <class T, int BM, bool kTransposed>
__device__ __forceinline__ bool start_item(const TwLaunch& x, RasterPosition at, int m_blocks, int threads,
                                           TwItem& item, std::int64_t& m0) {
  const int part = at.part;
  item = x.items[at.item];
  m0 = static_cast<std::int64_t>(part) * BM;
  if (x.compact && item.tile < 0) return false;  // pruned columns are not part of a compact C
  if (kTransposed && item.kept_rows == 0) {
    write_pruned_columns_transposed<T>(x, item, part, m_blocks, static_cast<int>(threadIdx.x), threads);
    return false;
  }
  return true;
}

// The same at this CTA's raster_position, for kernels that load nothing before the item.
template <class T, int BM, bool kTransposed>
__device__ __forceinline__ bool start_item(const TwLaunch& x, int m_blocks, int threads, TwItem& item,
                                           std::int64_t& m0) {
  return start_item<T, BM, kTransposed>(x, raster_position(x, m_blocks), m_blocks, threads, item, m0);
}

}  // namespace tilesparse::cuda::tw_output

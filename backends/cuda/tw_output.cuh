#pragma once
// The epilogue the TW tensor-core kernels share (tw_wgmma.cuh, tw_mma.cu). Each kernel
// stages its fp32 output block (BM activation rows x BN item columns) in shared memory
// from its own accumulator fragments (OutputStaging::store_pair), then write_output
// finishes it along the contiguous axis of C, so that global stores are coalesced:
//   out = activation(acc + bias[original column] (+ the value C holds, when accumulate:
//   the TEW residual)), converted to T and written to the original column
//   cols[col_begin + j] (a row of Cᵀ when the output is transposed), or, for a compact C,
//   to its column col_begin + j. An item with an output span (TwItem::span_*) also writes
//   the pruned columns inside it (epilogue of 0), and a row-major C then gets the whole
//   span as one run per row: 16-byte stores, whole sectors.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "backends/cuda/tw_launch.hpp"

namespace tilesparse::cuda::tw_output {

__device__ __forceinline__ float load_value(const __half* p) { return __half2float(*p); }
__device__ __forceinline__ float load_value(const __nv_bfloat16* p) { return __bfloat162float(*p); }
__device__ __forceinline__ void store_value(__half* p, float v) { *p = __float2half_rn(v); }
__device__ __forceinline__ void store_value(__nv_bfloat16* p, float v) { *p = __float2bfloat16_rn(v); }

// TwLaunch::activation: 0 none, 1 ReLU, 2 GELU in its erf form 0.5·v·(1 + erf(v/√2)).
__device__ __forceinline__ float activate(float v, int activation) {
  if (activation == 1) return fmaxf(v, 0.0f);
  if (activation == 2) return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
  return v;
}

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

// Writes the block staged at `smem` (OutputStaging layout, every store_pair done) for
// rows m0.. of `item`. `threads` threads take part, tid counted from the first of them;
// `sync` is their barrier. The caller has made sure (its own barrier) that the staging
// does not overwrite shared memory still being read.
template <class T, int BM, int BN, bool kTransposed, class Sync>
__device__ __forceinline__ void write_output(const TwLaunch& x, const TwItem& item, std::int64_t m0,
                                             std::uint8_t* smem, int tid, int threads, Sync sync) {
  using Staging = OutputStaging<BM, BN, kTransposed>;
  constexpr int kPitch = Staging::kPitch;
  const float* staged = reinterpret_cast<const float*>(smem);
  std::int32_t* col_index = reinterpret_cast<std::int32_t*>(smem) + Staging::kStagedFloats;
  float* col_bias = reinterpret_cast<float*>(smem) + Staging::kStagedFloats + BN;
  for (int col = tid; col < BN; col += threads) {
    const std::int32_t n = col < item.cols ? x.cols[item.col_begin + col] : 0;
    col_index[col] = n;
    col_bias[col] = x.bias != nullptr && col < item.cols ? x.bias[n] : 0.0f;
  }
  sync();

  T* c = static_cast<T*>(x.c);
  // Writes `count` consecutive outputs at `out` (16-byte aligned and count == 8 when
  // `vector`): activation(acc + bias (+ what out holds, when accumulating)); acc is 0
  // where `acc` is null (a pruned column), else acc[t * acc_stride].
  const auto write_run = [&](T* out, const float* acc, int acc_stride, const float* bias, int bias_stride, int count,
                             bool vector) {
    if (vector) {
      union {
        uint4 u;
        T t[8];
      } pack;
      if (x.accumulate) pack.u = *reinterpret_cast<const uint4*>(out);
#pragma unroll
      for (int t = 0; t < 8; ++t) {
        float y = (acc ? acc[t * acc_stride] : 0.0f) + bias[t * bias_stride];
        if (x.accumulate) y += static_cast<float>(pack.t[t]);
        store_value(&pack.t[t], activate(y, x.activation));
      }
      *reinterpret_cast<uint4*>(out) = pack.u;
    } else {
      for (int t = 0; t < count; ++t) {
        float y = (acc ? acc[t * acc_stride] : 0.0f) + bias[t * bias_stride];
        if (x.accumulate) y += load_value(out + t);
        store_value(out + t, activate(y, x.activation));
      }
    }
  };
  const bool spans = item.span_len > 0 && !x.compact;
  const float zero = 0.0f;
  const auto bias_of = [&](std::int64_t n) { return x.bias != nullptr ? &x.bias[n] : &zero; };
  if constexpr (kTransposed) {
    // Runs of 8 consecutive m of one Cᵀ row per thread: 16-byte stores where aligned. With
    // a span, its pruned columns (span_map -1) follow the item's own.
    const bool vector = x.m % 8 == 0;
    const int columns = spans ? item.cols + item.span_len : item.cols;
    for (int i = tid; i < columns * (BM / 8); i += threads) {
      const int col = i / (BM / 8), r = (i % (BM / 8)) * 8;
      const std::int64_t m = m0 + r;
      if (m >= x.m) continue;
      const int count = x.m - m < 8 ? static_cast<int>(x.m - m) : 8;
      if (col < item.cols) {
        const std::int64_t out_col = x.compact ? item.col_begin + col : col_index[col];
        write_run(c + out_col * x.m + m, staged + col * kPitch + r, 1, &col_bias[col], 0, count, vector);
      } else {
        const int s = col - item.cols;
        if (x.span_map[item.span_offset + s] >= 0) continue;
        const std::int64_t n = item.span_begin + s;
        write_run(c + n * x.m + m, nullptr, 0, bias_of(n), 0, count, vector);
      }
    }
  } else if (spans) {
    // One contiguous run of C per row, span_begin .. span_begin + span_len: a warp per row,
    // a lane per 8 aligned columns (16-byte stores), single columns at the unaligned ends.
    const bool vector = x.n_out % 8 == 0;
    const int len = item.span_len;
    const int head = vector ? min(len, (8 - item.span_begin % 8) % 8) : len;
    const int chunks = (len - head) / 8 * (vector ? 1 : 0);
    const int tail = len - head - 8 * chunks;
    const std::int32_t* map = x.span_map + item.span_offset;
    for (int r = tid / 32; r < BM; r += threads / 32) {
      const std::int64_t m = m0 + r;
      if (m >= x.m) break;
      T* row = c + m * x.n_out + item.span_begin;
      const float* acc_row = staged + r * kPitch;
      for (int u = tid % 32; u < head + chunks + tail; u += 32) {
        const int s = u < head ? u : u < head + chunks ? head + (u - head) * 8 : u + 7 * chunks;
        const int count = u >= head && u < head + chunks ? 8 : 1;
        if (count == 8) {
          float acc[8], bias[8];
#pragma unroll
          for (int t = 0; t < 8; ++t) {
            const std::int32_t j = map[s + t];
            acc[t] = j >= 0 ? acc_row[j] : 0.0f;
            bias[t] = *bias_of(item.span_begin + s + t);
          }
          write_run(row + s, acc, 1, bias, 1, 8, true);
        } else {
          const std::int32_t j = map[s];
          const float acc = j >= 0 ? acc_row[j] : 0.0f;
          write_run(row + s, &acc, 0, bias_of(item.span_begin + s), 0, 1, false);
        }
      }
    }
  } else {
    // Consecutive threads: consecutive columns of one C row.
    for (int i = tid; i < BM * BN; i += threads) {
      const int r = i / BN, col = i % BN;
      const std::int64_t m = m0 + r;
      if (col >= item.cols || m >= x.m) continue;
      const std::int64_t out_col = x.compact ? item.col_begin + col : col_index[col];
      write_run(c + m * x.n_out + out_col, staged + r * kPitch + col, 0, &col_bias[col], 0, 1, false);
    }
  }
}

}  // namespace tilesparse::cuda::tw_output

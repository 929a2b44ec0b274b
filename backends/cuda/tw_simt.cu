// TW GEMM on the CUDA cores: fp32 operands, fp32 FMA (no tensor cores, no TF32), fused
// bias + activation. The contract (work items, padded rows, simt_rows packing) is in
// tw_item.hpp. This is the CUDA-core TW kernel of Guo et al. (SC'20), written as a
// register-tiled SGEMM over each item's gathered rows.
//
// One CTA (256 threads) = one (work item, block of BM activation rows): it computes the
// BM x BN block C[m0.., cols[col_begin..]] = A[m0.., rows[..]] · V_item, stepping over the
// item's kept rows BK at a time (ceil(kept_rows / BK) steps: whole steps of -1 padding
// are skipped). The grid is linear with the row block fastest, so the items (sorted
// heaviest first) start in that order and neighbouring CTAs share one item's packed
// weights in L2.
//  * Weights: a BK x BN step is BK*BN contiguous floats (the packed row width is exactly
//    BN = bn), copied with 16-byte cp.async into Bs[k][n]. This needs every item's values
//    16-byte aligned: values_offset a multiple of 4 elements (the plan pads each item to a
//    multiple of 64 rows x bn columns) and a cudaMalloc'd values buffer. The items live on
//    the device, so the launcher cannot check it: it is assumed.
//  * Activations are gathered into As[k][m] (k-major, so the inner loop reads float4s
//    along m); a rows entry of -1, and any m >= M, becomes a zero-filled cp.async (source
//    size 0, the source pointer is A's base: nothing outside A is formed or read):
//      - transposed, M % 4 == 0 and Aᵀ 16-byte aligned: a warp copies 512 contiguous bytes
//        of row rows[k] of Aᵀ with 16-byte cp.async;
//      - transposed otherwise: 4 bytes a lane, 128 contiguous bytes a warp;
//      - row-major: a warp gathers 8 consecutive kept rows x 4 consecutive m with 4-byte
//        cp.async through L1 (the sectors of one A row serve neighbouring kept rows).
//    As rows are padded to BM + 4 floats: the row-major gather then hits banks
//    4k + m % 4 (all 32 distinct) while float4 reads stay aligned.
//  * STAGES-deep cp.async ring with one barrier per step: the copy of step s+STAGES-1 is
//    issued right after the barrier of step s, before its math; the row indices it
//    needs were loaded into registers one step earlier.
//  * Each thread owns a TM x TN register tile (8x8 for 128 x 128) as one or two 4-row by
//    one or two 4-column groups half a tile apart; a warp is 4 x 8 threads, so per k it
//    reads one 128-byte run of Bs and four float4s of As (broadcast): conflict-free.
//  * Epilogue: the accumulators go through shared memory (in passes of BM/2 rows when
//    TM = 8) so that global writes are coalesced: consecutive threads write consecutive
//    m of one Cᵀ row (transposed; staged as [n][m] with 16-byte units XOR-swizzled by n,
//    conflict-free both ways), or consecutive columns j of one C row (row-major; cols[]
//    ascends within an item). out = act((accumulate ? c_old : 0) + acc + bias[col]),
//    act: none, ReLU, or GELU 0.5x(1 + erf(x/√2)). Items without kept rows (pruned
//    columns) skip the math and write act(c_old + bias), or nothing for a compact C
//    (there c has n_out columns in `cols` order: column col_begin + j).
//  * Shapes (SimtTile): BN = bn; BM = 128, or 64 when 128-row CTAs would number fewer
//    than two per SM (few items or short M; bn = 32 always 128); BK = 8 with a 4-deep
//    ring for 128 x 128 (8x8 per thread), 16 with a 3-deep ring for the smaller per-thread
//    tiles, about 512 FMAs per thread per barrier either way. Tuning overrides:
//    TILESPARSE_TW_SIMT_BM=64|128, TILESPARSE_TW_SIMT_BK=16 (128 x 128 with BK 16,
//    double-buffered).
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "backends/cuda/async_copy.cuh"
#include "backends/cuda/check.hpp"
#include "backends/cuda/element_ops.cuh"
#include "backends/cuda/tw_launch.hpp"
#include "backends/cuda/tw_launch_choice.cuh"
#include "backends/cuda/tw_output.cuh"

namespace tilesparse::cuda {

namespace {

enum class Gather { transposed_vector, transposed_scalar, row_major };

constexpr int kThreads = 256;


// BM x BN output block per CTA, BK kept rows per step, a STAGES-deep cp.async ring.
template <int BM_, int BN_, int BK_, int STAGES_>
struct SimtTile {
  static constexpr int BM = BM_, BN = BN_, BK = BK_, STAGES = STAGES_;
  static constexpr int TN = BN == 128 ? 8 : 4;                // columns per thread
  static constexpr int TM = BM * BN / kThreads / TN;          // rows per thread
  static constexpr int threads_n = BN / TN;
  static constexpr int threads_m = BM / TM;
  static constexpr int warps_n = threads_n / 8;                // a warp is 4 (m) x 8 (n) threads
  static constexpr int passes = TM / 4;                        // epilogue passes over the rows
  static constexpr int pass_rows = BM / passes;                // = threads_m * 4
  static constexpr int as_stride = BM + 4;                     // padded k-row of As, see as_index
  static constexpr int stage_floats = BK * (as_stride + BN);
  static constexpr int smem_floats = std::max(STAGES * stage_floats, pass_rows * BN);
  static_assert(kTwRowBlock % BK == 0, "a step never crosses the row padding");
  static_assert(BK % 8 == 0, "the gathers cover k in groups of 8");
  static_assert(STAGES >= 2, "a ring");
  static_assert(TM == 4 || TM == 8, "row groups of 4");
  static_assert(TN == 4 || TN == 8, "column groups of 4");
  static_assert(threads_m * threads_n == kThreads, "one output tile element set per thread");
  static_assert(threads_n % 8 == 0 && threads_m % 4 == 0, "warps are 4 x 8 threads");
  static_assert(BM % 32 == 0 && pass_rows % 32 == 0, "32-float runs of the copies and epilogue writes");
  static_assert(kThreads % BN == 0 && kThreads % pass_rows == 0, "a thread keeps one column (row-major) / row (transposed) in the epilogue");
  static_assert(smem_floats * 4 <= 48 * 1024, "static shared memory");
};


// Position of activation (k, m) in a stage's As: k-rows padded by 4 floats, so the
// row-major gather (a warp = 8 consecutive k x 4 consecutive m) hits banks 4k + m % 4,
// all 32 distinct, while float4 reads along m stay 16-byte aligned.
template <int BM>
__device__ __forceinline__ int as_index(int k, int m) {
  return k * (BM + 4) + m;
}

__device__ __forceinline__ float finish(float acc, const float* out, float bias, bool accumulate, int activation) {
  float v = accumulate ? *out + acc : acc;
  return activate(v + bias, activation);
}

template <class Tile, Gather G>
__global__ void __launch_bounds__(kThreads, 2) tw_simt_kernel(const TwLaunch x, const int m_blocks) {
  constexpr int BM = Tile::BM, BN = Tile::BN, kBK = Tile::BK, kStages = Tile::STAGES;
  constexpr int TM = Tile::TM, TN = Tile::TN;
  constexpr bool kTransposed = G != Gather::row_major;
  // Which kept rows k of a step this thread copies: k = k_base + kStep * h, h < kRowsHeld.
  // The transposed vector copy has BM/4 threads per k; the others cover k with 8 lanes
  // (row-major) or 8 warps (transposed scalar).
  constexpr int kStep = G == Gather::transposed_vector ? kThreads / (BM / 4) : 8;
  constexpr int kRowsHeld = kBK >= kStep ? kBK / kStep : 1;

  __shared__ float4 smem4[Tile::smem_floats / 4];
  float* const smem = reinterpret_cast<float*>(smem4);
  const std::uint32_t smem_base = smem_address(smem);

  TwItem item;
  std::int64_t m0 = 0;
  if (!tw_output::start_item<float, BM, kTransposed>(x, m_blocks, kThreads, item, m0)) return;
  const std::int64_t M = x.m;
  const int steps = (item.kept_rows + kBK - 1) / kBK;  // the last one may hold -1 padding
  const float* const a = static_cast<const float*>(x.a);
  const float* const values = static_cast<const float*>(x.values) + item.values_offset;
  const std::int32_t* const rows = x.rows + item.rows_offset;

  const int tid = static_cast<int>(threadIdx.x), lane = tid & 31, warp = tid >> 5;
  const int tx = (warp % Tile::warps_n) * 8 + (lane & 7);  // column group of this thread
  const int ty = (warp / Tile::warps_n) * 4 + (lane >> 3);  // row group of this thread

  // Thread-constant parts of the copies. Activations: kept rows k_base + kStep*h of a
  // step, and per kept row either one 16-byte chunk (m = m4*4..+3) or BM/32 elements
  // m = ml0 + 32*j; `a_thread` is the A address of (row 0, first m), `a_dst` the byte offset of (k_base, first m) in a stage
  // (the j-th m lands 32 floats further on).
  constexpr int kCopiesA = G == Gather::transposed_vector ? 1 : BM / 32;
  const int k_base = G == Gather::transposed_vector ? tid / (BM / 4) : G == Gather::row_major ? (lane & 7) : warp;
  const bool copies_a = kBK >= kStep || tid < kBK * (BM / 4);  // transposed vector, BM = 64: half idle
  const int ml0 = G == Gather::transposed_vector ? (tid % (BM / 4)) * 4
                  : G == Gather::transposed_scalar ? lane
                                                   : (lane >> 3) + 4 * warp;
  const float* const a_thread = kTransposed ? a + m0 + ml0 : a + (m0 + ml0) * x.k;
  const std::int64_t j_stride = kTransposed ? 32 : 32 * x.k;  // A elements between the j-th m's
  // A rows left from this thread's first m (clamped to 32 bits): the j-th m is inside M
  // when 32*j < m_left.
  const int m_left = static_cast<int>(M - m0 - ml0 < BM ? M - m0 - ml0 : BM);
  const std::uint32_t a_dst = static_cast<std::uint32_t>(as_index<BM>(k_base, ml0)) * 4u;
  const std::int32_t* const rows_thread = rows + k_base;
  const float* const b_thread = values + tid * 4;  // chunk e = tid + i*kThreads of a weight slice
  constexpr int kChunksB = kBK * BN / 4;           // 16-byte chunks of a weight slice
  constexpr int kCopiesB = (kChunksB + kThreads - 1) / kThreads;

  auto fetch_rows = [&](int step, std::int32_t (&r)[kRowsHeld]) {
#pragma unroll
    for (int h = 0; h < kRowsHeld; ++h)
      r[h] = copies_a ? __ldg(rows_thread + static_cast<std::int64_t>(step) * kBK + kStep * h) : -1;
  };

  auto issue = [&](int slot, int step, const std::int32_t (&r)[kRowsHeld]) {
    const std::uint32_t as = smem_base + static_cast<std::uint32_t>(slot * Tile::stage_floats * 4);
    const std::uint32_t bs = as + Tile::as_stride * kBK * 4 + tid * 16;
    const float* const src_b = b_thread + static_cast<std::int64_t>(step) * (kBK * BN);
#pragma unroll
    for (int i = 0; i < kCopiesB; ++i)
      if (kChunksB % kThreads == 0 || tid + i * kThreads < kChunksB)
        cp_async16(bs + i * kThreads * 16, src_b + i * kThreads * 4, true);
    if (!copies_a) return;
#pragma unroll
    for (int h = 0; h < kRowsHeld; ++h) {
      const std::int32_t row = r[h];
      const std::uint32_t dst = as + a_dst + kStep * h * Tile::as_stride * 4;
      const float* const src = a_thread + (kTransposed ? static_cast<std::int64_t>(row) * M : row);
#pragma unroll
      for (int j = 0; j < kCopiesA; ++j) {
        const bool valid = row >= 0 && 32 * j < m_left;
        const float* const p = valid ? src + j * j_stride : a;  // never form a pointer outside A
        if constexpr (G == Gather::transposed_vector) {
          cp_async16(dst, p, valid);
        } else {
          cp_async4(dst + j * 128, p, valid);
        }
      }
    }
  };

  float acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.0f;

  std::int32_t held[kRowsHeld];
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < steps) {
      fetch_rows(s, held);
      issue(s, s, held);
    }
    cp_async_commit();
  }
  if (kStages - 1 < steps) fetch_rows(kStages - 1, held);

  // Thread-constant shared-memory read offsets (floats) of the inner loop.
  const int b_read = tx * 4;
  int read_slot = 0, write_slot = kStages - 1;
  for (int step = 0; step < steps; ++step) {
    cp_async_wait<kStages - 2>();
    __syncthreads();  // step's stage is in; everyone is done with the stage of step - 1
    const int next = step + kStages - 1;
    if (next < steps) {
      issue(write_slot, next, held);
      if (next + 1 < steps) fetch_rows(next + 1, held);
    }
    cp_async_commit();

    const float* const as = smem + read_slot * Tile::stage_floats;
    const float* const bs = as + Tile::as_stride * kBK + b_read;
#pragma unroll
    for (int k = 0; k < kBK; ++k) {
      float af[TM], bf[TN];
#pragma unroll
      for (int h = 0; h < TM / 4; ++h) {
        const float4 v = *reinterpret_cast<const float4*>(as + as_index<BM>(k, h * (BM / 2) + ty * 4));
        af[4 * h + 0] = v.x;
        af[4 * h + 1] = v.y;
        af[4 * h + 2] = v.z;
        af[4 * h + 3] = v.w;
      }
#pragma unroll
      for (int h = 0; h < TN / 4; ++h) {
        const float4 v = *reinterpret_cast<const float4*>(bs + k * BN + h * (BN / 2));
        bf[4 * h + 0] = v.x;
        bf[4 * h + 1] = v.y;
        bf[4 * h + 2] = v.z;
        bf[4 * h + 3] = v.w;
      }
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(af[i], bf[j], acc[i][j]);
    }
    read_slot = read_slot == kStages - 1 ? 0 : read_slot + 1;
    write_slot = write_slot == kStages - 1 ? 0 : write_slot + 1;
  }
  cp_async_wait<0>();
  __syncthreads();  // the ring is free: reuse it to stage the output

  // Epilogue. Thread (ty, tx) holds rows p*BM/2 + ty*4 + i (pass p) and columns
  // h*BN/2 + tx*4 + q, in acc[4p + i][4h + q].
  constexpr int kPassRows = Tile::pass_rows;
  float* const cs = smem;
  float* const c = static_cast<float*>(x.c);
  const bool has_rows = steps > 0;
  const bool accumulate = x.accumulate;
  const int activation = x.activation;

  // Row-major: thread writes column j = tid % BN of rows tid / BN + 256/BN * t.
  const int rm_j = tid % BN;
  std::int64_t rm_out_col = 0;
  float rm_bias = 0.0f;
  if (!kTransposed && rm_j < item.cols) {
    const std::int32_t n = x.cols[item.col_begin + rm_j];
    rm_out_col = x.compact ? static_cast<std::int64_t>(item.col_begin) + rm_j : n;
    rm_bias = x.bias ? x.bias[n] : 0.0f;
  }

#pragma unroll
  for (int p = 0; p < Tile::passes; ++p) {
    if (has_rows) {
#pragma unroll
      for (int h = 0; h < TN / 4; ++h) {
        if constexpr (kTransposed) {
          // cs[n][m], 16-byte units of m XORed with n/4 % 8 (= tx % 8): a quarter warp's
          // float4 stores hit 8 distinct bank groups.
#pragma unroll
          for (int q = 0; q < 4; ++q) {
            const int n = h * (BN / 2) + tx * 4 + q;
            *reinterpret_cast<float4*>(cs + n * kPassRows + ((ty ^ ((n >> 2) & 7)) << 2)) =
                make_float4(acc[4 * p + 0][4 * h + q], acc[4 * p + 1][4 * h + q], acc[4 * p + 2][4 * h + q],
                            acc[4 * p + 3][4 * h + q]);
          }
        } else {  // cs[m][n]
#pragma unroll
          for (int i = 0; i < 4; ++i)
            *reinterpret_cast<float4*>(cs + (ty * 4 + i) * BN + h * (BN / 2) + tx * 4) =
                make_float4(acc[4 * p + i][4 * h + 0], acc[4 * p + i][4 * h + 1], acc[4 * p + i][4 * h + 2],
                            acc[4 * p + i][4 * h + 3]);
        }
      }
    }
    __syncthreads();
    const std::int64_t row0 = m0 + p * kPassRows;
    if constexpr (kTransposed) {
      // Consecutive threads: consecutive m of one row of Cᵀ.
      const int ml = tid % kPassRows;
      const std::int64_t m = row0 + ml;
      if (m < M) {
        for (int n = tid / kPassRows; n < item.cols; n += kThreads / kPassRows) {
          const std::int32_t col = x.cols[item.col_begin + n];
          const std::int64_t out_col = x.compact ? static_cast<std::int64_t>(item.col_begin) + n : col;
          const float bias = x.bias ? x.bias[col] : 0.0f;
          const float v = has_rows ? cs[n * kPassRows + ((((ml >> 2) ^ ((n >> 2) & 7)) << 2) | (ml & 3))] : 0.0f;
          float* out = c + out_col * M + m;
          *out = finish(v, out, bias, accumulate, activation);
        }
      }
    } else {
      // Consecutive threads: consecutive columns j (ascending cols) of one row of C.
      if (rm_j < item.cols) {
        for (int ml = tid / BN; ml < kPassRows; ml += kThreads / BN) {
          const std::int64_t m = row0 + ml;
          if (m >= M) break;
          const float v = has_rows ? cs[ml * BN + rm_j] : 0.0f;
          float* out = c + m * x.n_out + rm_out_col;
          *out = finish(v, out, rm_bias, accumulate, activation);
        }
      }
    }
    if (p + 1 < Tile::passes) __syncthreads();  // before the next pass overwrites cs
  }
}

template <class Tile, Gather G>
void launch_config(const TwLaunch& x) {
  constexpr int BM = Tile::BM;
  const std::int64_t m_blocks = (x.m + BM - 1) / BM;
  const std::int64_t blocks = m_blocks * x.item_count;
  if (blocks == 0) return;
  if (blocks > INT_MAX)
    fail("cuda", "tw_simt_kernel", "grid of " + std::to_string(blocks) + " blocks", __FILE__, __LINE__);
  tw_simt_kernel<Tile, G><<<static_cast<unsigned>(blocks), kThreads, 0, x.stream>>>(x, static_cast<int>(m_blocks));
  TS_CHECK_LAUNCH("tw_simt_kernel");
}

template <int BM, int BN, int BK, int STAGES>
void launch_gather(const TwLaunch& x) {
  using Tile = SimtTile<BM, BN, BK, STAGES>;
  if (!x.transposed) return launch_config<Tile, Gather::row_major>(x);
  if (x.m % 4 == 0 && reinterpret_cast<std::uintptr_t>(x.a) % 16 == 0)
    return launch_config<Tile, Gather::transposed_vector>(x);
  return launch_config<Tile, Gather::transposed_scalar>(x);
}

// Row block: 128 rows halve the weight traffic per output, but when 128-row CTAs give
// fewer than two per SM (short M or few items) 64-row CTAs keep more warps busy.
int row_block(const TwLaunch& x) {
  static const int forced = forced_row_block("TILESPARSE_TW_SIMT_BM");
  if (forced != 0) return forced;
  const std::int64_t blocks128 = (x.m + 127) / 128 * x.item_count;
  return blocks128 < 2 * static_cast<std::int64_t>(current_sm_count()) ? 64 : 128;
}

// Kept rows per step: about 512 FMAs per thread between barriers. 128 x 128 (8 x 8 per
// thread): 8 rows with a 4-deep ring, a ~600-instruction main loop; or, with
// TILESPARSE_TW_SIMT_BK=16 (tuning runs), 16 rows double-buffered: the per-step copy and
// barrier cost spread over twice the FMAs, in a main loop twice as long. Smaller
// per-thread tiles: 16 rows, 3-deep ring.
bool deep_steps() {
  static const bool sixteen = [] {
    const char* s = std::getenv("TILESPARSE_TW_SIMT_BK");
    return s && std::atoi(s) == 16;
  }();
  return sixteen;
}

}  // namespace

void launch_tw_simt_f32(const TwLaunch& x) {
  if (x.m <= 0 || x.item_count <= 0) return;
  switch (x.bn) {
    case 32: return launch_gather<128, 32, 16, 3>(x);
    case 64: return row_block(x) == 64 ? launch_gather<64, 64, 16, 3>(x) : launch_gather<128, 64, 16, 3>(x);
    case 128:
      if (row_block(x) == 64) return launch_gather<64, 128, 16, 3>(x);
      return deep_steps() ? launch_gather<128, 128, 16, 2>(x) : launch_gather<128, 128, 8, 4>(x);
    default: fail("cuda", "launch_tw_simt_f32", "unsupported column block " + std::to_string(x.bn), __FILE__, __LINE__);
  }
}

}  // namespace tilesparse::cuda

// TW GEMM on the tensor cores through warp-level mma.sync (sm_80 and later: Ampere, and
// any device where the sm_90a wgmma kernel does not run), f16/bf16 operands, fp32
// accumulation, fused bias + activation. The contract (work items, padded kept rows,
// column list, simt_rows packing in the weight's dtype) is in tw_item.hpp; the design
// in docs/kernels.md.
//
// One CTA (8 warps) = one (work item, block of BM = 128 activation rows): the block
// C[m0.., cols[col_begin..]] = A[m0.., rows[..]] · V_item, in steps of BK = 32 kept rows
// (ceil(kept_rows / BK) steps; the packed weights past kept_rows are zero and their row
// index is -1, read as a zero row of A). The grid is linear with the row block fastest,
// so the items (sorted heaviest first) start in that order.
//
// Shared memory, per stage of a STAGES-deep cp.async ring (one barrier per step; the
// copies of step s + STAGES - 1 are issued right after the barrier of step s):
//  * As[BK][BM]: kept row k, activation row m, m contiguous. The transposed gather
//    copies 16-byte runs of a row of Aᵀ (8 consecutive m of one kept row) straight in.
//  * Bs[BK][BN]: kept row k, item column n, n contiguous: a step of the simt_rows
//    packing is BK x BN contiguous values, copied as is in 16-byte chunks.
//  Rows of both are padded by 16 bytes: the pitch is then an odd number of 16-byte
//  units (BM/8 + 1, BN/8 + 1), so the 8 consecutive rows an ldmatrix 8x8 matrix reads
//  fall into 8 distinct 16-byte bank groups (conflict-free), and row starts stay 16-byte
//  aligned as ldmatrix and cp.async need.
//
// Fragments of mma.m16n8k16.row.col.f32.{f16,bf16} (PTX ISA; g = lane / 4, q = lane % 4;
// a register holds two 16-bit values, the lower index in the lower half):
//  A (16 x 16, m x k): a0 = (m g, k 2q, 2q+1), a1 = (m g+8, k 2q..), a2 = (m g, k 2q+8..),
//    a3 = (m g+8, k 2q+8..).
//  B (16 x 8, k x n): b0 = (k 2q, 2q+1; n g), b1 = (k 2q+8, 2q+9; n g).
//  C (16 x 8, fp32): c0, c1 = (m g; n 2q, 2q+1), c2, c3 = (m g+8; n 2q, 2q+1).
// ldmatrix.x4 loads four 8x8 matrices of 16-bit values into registers d0..d3; lanes
// 8i..8i+7 give the addresses of the 8 rows of matrix i. With .trans lane l receives,
// of each matrix (rows as stored), the elements (row 2q, column g) and (row 2q+1,
// column g). As and Bs store rows of k, so .trans hands every lane pairs along k at one
// m (or n): exactly the A and B fragments above.
//  A tile (m0, k0): matrix i = rows k0 + (i/2)*8.., columns m0 + (i%2)*8.. gives a_i, so
//    lane l addresses As row k0 + (l/16)*8 + l%8, column m0 + ((l/8)%2)*8.
//  B tiles (k0, n0) and (k0, n0+8): matrix i = rows k0 + (i%2)*8.., columns n0 +
//    (i/2)*8.. gives b_{i%2} of n tile i/2, so lane l addresses Bs row
//    k0 + ((l/8)%2)*8 + l%8, column n0 + (l/16)*8.
// Warps: 4 (m) x 2 (n); warp (wm, wn) owns rows wm*32.. (two m16 tiles) and columns
// wn*BN/2.. (BN/16 n8 tiles).
//
// Gathers of A (a kept row index of -1, and any m >= M, gives zeros):
//  * transposed_async: Aᵀ (the transposed layout, or the launcher's Aᵀ copy of a
//    row-major A), M % 8 == 0 and 16-byte aligned: 16-byte cp.async of 8 consecutive m
//    of a kept row, consecutive threads along m (coalesced). The row indices of a step
//    are read one step ahead, so issuing a copy never waits on them.
//  * transposed_registers (Aᵀ otherwise): the same chunks, element by element.
//  * row_major_registers (A, no Aᵀ copy: M % 8 != 0): consecutive threads take
//    consecutive kept rows of one m, i.e. nearby columns of one A row.
//  Register gathers are loaded before a step's math and stored to shared memory after it.
// The epilogue is tw_output.cuh's, shared with the wgmma kernel.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <string>
#include <type_traits>

#include "backends/cuda/async_copy.cuh"
#include "backends/cuda/check.hpp"
#include "backends/cuda/tw_launch.hpp"
#include "backends/cuda/tw_launch_choice.cuh"
#include "backends/cuda/tw_output.cuh"

namespace tilesparse::cuda {

namespace {

using Gather = TwGather;

constexpr int kThreads = 256;
constexpr int kWarpsM = 4, kWarpsN = 2;

// BM x BN output block per CTA, BK kept rows per step, a STAGES-deep ring.
template <int BN_>
struct MmaTile {
  static constexpr int BM = 128, BN = BN_, BK = 32, STAGES = 4;
  static constexpr int kWarpRows = BM / kWarpsM, kWarpCols = BN / kWarpsN;
  static constexpr int kTilesM = kWarpRows / 16, kTilesN = kWarpCols / 8;  // m16 and n8 tiles per warp
  static constexpr int kPitchA = BM * 2 + 16, kPitchB = BN * 2 + 16;     // bytes per row of As, Bs
  static constexpr int kBytesA = BK * kPitchA, kBytesB = BK * kPitchB;
  static constexpr int kStageBytes = kBytesA + kBytesB;
  static constexpr int kChunksA = BK * BM / 8, kChunksB = BK * BN / 8;  // 16-byte chunks per stage
  static constexpr int kChunksAPerThread = kChunksA / kThreads;
  static constexpr int kChunksBPerThread = (kChunksB + kThreads - 1) / kThreads;
  // The output staging reuses the ring (for BN = 128 a row-major staging is a little larger).
  static constexpr int kSmemBytes = std::max(STAGES * kStageBytes, std::max(tw_output::OutputStaging<BM, BN, true>::kBytes,
                                                                          tw_output::OutputStaging<BM, BN, false>::kBytes));
  static_assert(BN == 32 || BN == 64 || BN == 128, "item column blocks");
  static_assert(kWarpsM * kWarpsN * 32 == kThreads, "8 warps");
  static_assert(kWarpRows % 16 == 0 && kWarpCols % 16 == 0, "whole m16 tiles, pairs of n8 tiles (ldmatrix.x4)");
  static_assert(BK % 16 == 0 && kTwRowBlock % BK == 0, "k16 steps; a step never crosses the row padding");
  static_assert(kChunksA % kThreads == 0, "activation copies split evenly");
  static_assert(BN <= kThreads, "a thread per item column (load_column_index)");
  static_assert((kPitchA / 16) % 2 == 1 && (kPitchB / 16) % 2 == 1, "odd pitch in 16-byte units: conflict-free ldmatrix");
  static_assert(STAGES >= 2, "a ring");
};

// d0..d3 <- four 8x8 matrices, transposed (see the file comment); `address` is this
// lane's row address in shared memory. The memory clobber keeps the compiler from moving
// it across the barriers and shared-memory stores it depends on.
__device__ __forceinline__ void ldmatrix_x4_trans(std::uint32_t (&d)[4], std::uint32_t address) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(d[0]), "=r"(d[1]), "=r"(d[2]), "=r"(d[3])
               : "r"(address)
               : "memory");
}

// d += a · b for one m16n8k16 tile, fp32 accumulation.
template <class T>
__device__ __forceinline__ void mma_m16n8k16(float (&d)[4], const std::uint32_t (&a)[4], const std::uint32_t (&b)[2]) {
  if constexpr (std::is_same_v<T, __half>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  } else {
    static_assert(std::is_same_v<T, __nv_bfloat16>, "f16 or bf16");
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  }
}

// kOutTransposed: C is written as Cᵀ (the transposed layout) or row-major; with
// transposed_async and a row-major C, x.a holds the Aᵀ copy the launcher made.
template <class T, class Tile, Gather G, bool kOutTransposed>
__global__ void __launch_bounds__(kThreads, 2) tw_mma_kernel(const TwLaunch x, const int m_blocks) {
  constexpr int BM = Tile::BM, BN = Tile::BN, BK = Tile::BK, STAGES = Tile::STAGES;
  constexpr int kTilesM = Tile::kTilesM, kTilesN = Tile::kTilesN;
  static_assert(G != Gather::row_major_registers || !kOutTransposed, "a row-major A comes with a row-major C");

  extern __shared__ __align__(16) std::uint8_t smem[];
  const std::uint32_t smem_base = smem_address(smem);

  TwItem item;
  std::int64_t m0 = 0;
  if (!tw_output::start_item<T, BM, kOutTransposed>(x, m_blocks, kThreads, item, m0)) return;
  const int steps = (item.kept_rows + BK - 1) / BK;
  const T* const a = static_cast<const T*>(x.a);
  const T* const values = static_cast<const T*>(x.values) + item.values_offset;
  const std::int32_t* const rows = x.rows + item.rows_offset;
  const int tid = static_cast<int>(threadIdx.x), lane = tid % 32, warp = tid / 32;
  const int warp_m = warp % kWarpsM, warp_n = warp / kWarpsM;
  const std::int32_t column_index = tw_output::load_column_index(x, item, tid);

  // Activation chunk i of a step (j-th of this thread: i = tid + j * kThreads): kept row
  // k, activation rows m0 + c*8 .. + 7; stored at As[k][c*8].
  const auto chunk_k = [](int i) { return G == Gather::row_major_registers ? i % BK : i / (BM / 8); };
  const auto chunk_c = [](int i) { return G == Gather::row_major_registers ? i / BK : i % (BM / 8); };
  const auto chunk_offset = [&](int i) -> std::uint32_t {
    return static_cast<std::uint32_t>(chunk_k(i) * Tile::kPitchA + chunk_c(i) * 16);
  };

  // Weights of a step: BK x BN contiguous values, chunk e = row e / (BN/8), 16-byte
  // column e % (BN/8).
  const auto copy_weights = [&](int stage, int step) {
    const T* const src = values + static_cast<std::int64_t>(step) * (BK * BN);
    const std::uint32_t dst = smem_base + stage * Tile::kStageBytes + Tile::kBytesA;
#pragma unroll
    for (int j = 0; j < Tile::kChunksBPerThread; ++j) {
      const int e = tid + j * kThreads;
      if (Tile::kChunksB % kThreads == 0 || e < Tile::kChunksB)
        cp_async16(dst + (e / (BN / 8)) * Tile::kPitchB + (e % (BN / 8)) * 16, src + e * 8, true);
    }
  };

  std::int32_t row_of[Tile::kChunksAPerThread];  // transposed_async: the next step's kept rows
  const auto load_row_indices = [&](int step) {
#pragma unroll
    for (int j = 0; j < Tile::kChunksAPerThread; ++j) row_of[j] = __ldg(rows + step * BK + chunk_k(tid + j * kThreads));
  };
  const auto copy_activations_async = [&](int stage) {
    const std::uint32_t dst = smem_base + stage * Tile::kStageBytes;
#pragma unroll
    for (int j = 0; j < Tile::kChunksAPerThread; ++j) {
      const int i = tid + j * kThreads;
      const std::int64_t m = m0 + chunk_c(i) * 8;
      const bool valid = row_of[j] >= 0 && m < x.m;  // M % 8 == 0: a chunk is all in or all out
      cp_async16(dst + chunk_offset(i), valid ? a + static_cast<std::int64_t>(row_of[j]) * x.m + m : a, valid);
    }
  };

  uint4 held[Tile::kChunksAPerThread];  // register gathers: a step's chunks between load and store
  const auto fetch_activations = [&](int step) {
#pragma unroll
    for (int j = 0; j < Tile::kChunksAPerThread; ++j) {
      const int i = tid + j * kThreads;
      const std::int32_t row = __ldg(rows + step * BK + chunk_k(i));
      unsigned short e[8];
#pragma unroll
      for (int t = 0; t < 8; ++t) {
        const std::int64_t m = m0 + chunk_c(i) * 8 + t;
        if (row < 0 || m >= x.m) {
          e[t] = 0;
        } else {
          const T* p = G == Gather::row_major_registers ? a + m * x.k + row : a + static_cast<std::int64_t>(row) * x.m + m;
          e[t] = __ldg(reinterpret_cast<const unsigned short*>(p));
        }
      }
      held[j] = make_uint4(e[0] | (static_cast<unsigned>(e[1]) << 16), e[2] | (static_cast<unsigned>(e[3]) << 16),
                           e[4] | (static_cast<unsigned>(e[5]) << 16), e[6] | (static_cast<unsigned>(e[7]) << 16));
    }
  };
  const auto store_activations = [&](int stage) {
#pragma unroll
    for (int j = 0; j < Tile::kChunksAPerThread; ++j)
      *reinterpret_cast<uint4*>(smem + stage * Tile::kStageBytes + chunk_offset(tid + j * kThreads)) = held[j];
  };

  float acc[kTilesM][kTilesN][4];
#pragma unroll
  for (int i = 0; i < kTilesM; ++i)
#pragma unroll
    for (int j = 0; j < kTilesN; ++j)
#pragma unroll
      for (int r = 0; r < 4; ++r) acc[i][j][r] = 0.0f;

  // Prologue: steps 0 .. STAGES-2 in flight, one cp.async group each (empty past the end).
#pragma unroll
  for (int s = 0; s < STAGES - 1; ++s) {
    if (s < steps) {
      copy_weights(s, s);
      if constexpr (G == Gather::transposed_async) {
        load_row_indices(s);
        copy_activations_async(s);
      } else {
        fetch_activations(s);
        store_activations(s);
      }
    }
    cp_async_commit();
  }
  if constexpr (G == Gather::transposed_async) {
    if (STAGES - 1 < steps) load_row_indices(STAGES - 1);
  }

  // Lane-constant parts of the ldmatrix addresses (bytes; see the file comment).
  const std::uint32_t a_lane = static_cast<std::uint32_t>(((lane / 16) * 8 + lane % 8) * Tile::kPitchA +
                                                          (warp_m * Tile::kWarpRows + ((lane / 8) % 2) * 8) * 2);
  const std::uint32_t b_lane = static_cast<std::uint32_t>((((lane / 8) % 2) * 8 + lane % 8) * Tile::kPitchB +
                                                          (warp_n * Tile::kWarpCols + (lane / 16) * 8) * 2);

  for (int step = 0; step < steps; ++step) {
    // Groups committed so far: STAGES - 1 + step; step's is complete when at most
    // STAGES - 2 are pending. The barrier then also frees the stage of step - 1.
    cp_async_wait<STAGES - 2>();
    __syncthreads();
    const int next = step + STAGES - 1;  // into stage (step - 1) % STAGES
    if (next < steps) {
      copy_weights(next % STAGES, next);
      if constexpr (G == Gather::transposed_async) {
        copy_activations_async(next % STAGES);
        if (next + 1 < steps) load_row_indices(next + 1);
      } else {
        fetch_activations(next);
      }
    }
    cp_async_commit();

    const std::uint32_t as = smem_base + (step % STAGES) * Tile::kStageBytes;
    const std::uint32_t bs = as + Tile::kBytesA;
#pragma unroll
    for (int k16 = 0; k16 < BK / 16; ++k16) {
      std::uint32_t fa[kTilesM][4], fb[kTilesN][2];
#pragma unroll
      for (int i = 0; i < kTilesM; ++i) ldmatrix_x4_trans(fa[i], as + a_lane + k16 * 16 * Tile::kPitchA + i * 16 * 2);
#pragma unroll
      for (int j = 0; j < kTilesN; j += 2) {
        std::uint32_t d[4];
        ldmatrix_x4_trans(d, bs + b_lane + k16 * 16 * Tile::kPitchB + j * 8 * 2);
        fb[j][0] = d[0];
        fb[j][1] = d[1];
        fb[j + 1][0] = d[2];
        fb[j + 1][1] = d[3];
      }
#pragma unroll
      for (int i = 0; i < kTilesM; ++i)
#pragma unroll
        for (int j = 0; j < kTilesN; ++j) mma_m16n8k16<T>(acc[i][j], fa[i], fb[j]);
    }

    if constexpr (G != Gather::transposed_async) {
      // Its stage was freed by this step's barrier; it is read after the barrier of step `next`.
      if (next < steps) store_activations(next % STAGES);
    }
  }
  cp_async_wait<0>();  // only empty groups remain; no copy may land in the staging below
  __syncthreads();     // every warp is done reading the ring the staging reuses

  using Staging = tw_output::OutputStaging<BM, BN, kOutTransposed>;
  static_assert(Staging::kBytes <= Tile::kSmemBytes, "staging fits the shared memory");
  float* const staged = reinterpret_cast<float*>(smem);
#pragma unroll
  for (int i = 0; i < kTilesM; ++i)
#pragma unroll
    for (int j = 0; j < kTilesN; ++j)
#pragma unroll
      for (int h = 0; h < 2; ++h)
        Staging::store_pair(staged, warp_m * Tile::kWarpRows + i * 16 + lane / 4 + h * 8,
                            warp_n * Tile::kWarpCols + j * 8 + (lane % 4) * 2, acc[i][j][2 * h], acc[i][j][2 * h + 1]);
  tw_output::write_output<T, BM, BN, kOutTransposed>(x, item, m0, smem, tid, kThreads, column_index,
                                                    [] { __syncthreads(); });
}

template <class T, int BN, Gather G, bool kOutTransposed>
void launch_config(const TwLaunch& x) {
  using Tile = MmaTile<BN>;
  const auto kernel = tw_mma_kernel<T, Tile, G, kOutTransposed>;
  static const bool configured = [&] {
    TS_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, Tile::kSmemBytes));
    return true;
  }();
  (void)configured;
  const std::int64_t m_blocks = (x.m + Tile::BM - 1) / Tile::BM;
  const std::int64_t blocks = m_blocks * launched_items(x);
  if (blocks == 0) return;
  if (blocks > INT_MAX) fail("cuda", "tw_mma_kernel", "grid of " + std::to_string(blocks) + " blocks", __FILE__, __LINE__);
  kernel<<<static_cast<unsigned>(blocks), kThreads, Tile::kSmemBytes, x.stream>>>(x, static_cast<int>(m_blocks));
  TS_CHECK_LAUNCH("tw_mma_kernel");
}

template <class T>
void launch_typed(const TwLaunch& x) {
  launch_by_column_block(x, "launch_tw_mma", [&](auto bn) {
    launch_by_gather(x, [](const TwLaunch& y, auto gather, auto out_transposed) {
      launch_config<T, decltype(bn)::value, decltype(gather)::value, decltype(out_transposed)::value>(y);
    });
  });
}

}  // namespace

void launch_tw_mma(const TwLaunch& x, DType dtype) {
  if (x.m <= 0 || x.item_count <= 0) return;
  switch (dtype) {
    case DType::f16: return launch_typed<__half>(x);
    case DType::bf16: return launch_typed<__nv_bfloat16>(x);
    case DType::f32: fail("cuda", "launch_tw_mma", "fp32 takes the CUDA-core TW kernel", __FILE__, __LINE__);
  }
}

}  // namespace tilesparse::cuda

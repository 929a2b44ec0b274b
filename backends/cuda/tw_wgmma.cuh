#pragma once
// TW GEMM on the Hopper tensor cores (sm_90a wgmma), f16/bf16 operands, fp32 accumulation,
// fused bias + activation. The contract (work items, padded rows, packed values) is in
// tw_item.hpp; the design and its measurements are in docs/kernels.md.
//
// One CTA = one (work item, block of BM activation rows): WARPGROUPS warpgroups (two, or
// one for the 64-row blocks of row_block), each owning 64 rows, multiply the gathered
// activations [BM x kept rows] by the item's packed weight block [kept rows x BN] in
// steps of 64 kept rows:
//  * the weight block of a step is a contiguous, pre-swizzled 128-byte-swizzle image
//    (K-major), copied to shared memory as is by one cp.async.bulk (thread 0) that
//    completes on the stage's mbarrier: wgmma operand B;
//  * the activations are gathered into shared memory as wgmma operand A. Transposed
//    layout (Aᵀ, K x M): each kept row is a contiguous run of Aᵀ, copied in 16-byte
//    cp.async chunks into an MN-major 128-byte-swizzle image (the paper's coalesced
//    gather); row-major layout: the kept K columns of each A row are scattered, so they
//    are loaded element by element through registers (issued while the tensor cores run)
//    and stored K-major. M not a multiple of 8 in the transposed layout takes the
//    register path as well. In either layout an item whose kept rows are consecutive rows
//    of A (TwItem::run_start: a tile that keeps all its rows, as at 0% sparsity) takes
//    each step as one TMA tensor copy per 64 activation rows instead, by thread 0 on the
//    stage's mbarrier: an MN-major box of Aᵀ, or a K-major box of row-major A (which then
//    needs no Aᵀ copy when no item is gathered, tw_matmul.cpp).
//  * STAGES-deep ring of shared-memory stages: loads for step s+STAGES-1 are issued
//    right after the wgmma of step s, so copies overlap the math; a step waits for its
//    activations (cp.async group) and its weights (the mbarrier's phase).
// The epilogue (tw_output.cuh, shared with the other TW kernels) adds the bias (and what
// C holds when TwLaunch::accumulate asks, which only fp32 TEW on the CUDA cores does),
// applies the activation and scatters each column to its original position (Cᵀ rows
// when transposed).
// Built for other architectures as well (CMAKE_CUDA_ARCHITECTURES "80;90a"), the kernel
// body exists in the sm_90a image only; the dispatch table keeps it to 9.x devices.
#include <cuda.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <string>
#include <type_traits>

#include "backends/cuda/async_copy.cuh"
#include "backends/cuda/check.hpp"
#include "backends/cuda/tw_launch.hpp"
#include "backends/cuda/tw_launch_choice.cuh"
#include "backends/cuda/tw_output.cuh"

namespace tilesparse::cuda::tw_wgmma_detail {


using Gather = TwGather;

constexpr int kBK = kTwRowBlock;  // kept rows per stage: one 128-byte swizzle row of 16-bit values
constexpr int kAtomBytes = 64 * 128;  // one 64-row (or 64-column) x 128-byte swizzle block

template <class T, int N>
struct Tag {};

// wgmma m64nNk16, D (fp32) += A · B with A and B from shared-memory descriptors; TA = 1
// when A is MN-major (transposed), B always K-major.
template <int TA>
__device__ __forceinline__ void wgmma(Tag<__half, 32>, float (&d)[16], std::uint64_t da, std::uint64_t db) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %18, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n32k16.f32.f16.f16 "
      "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15}, %16, %17, p, 1, 1, %19, 0;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15])
      : "l"(da), "l"(db), "r"(1), "n"(TA));
}
template <int TA>
__device__ __forceinline__ void wgmma(Tag<__nv_bfloat16, 32>, float (&d)[16], std::uint64_t da, std::uint64_t db) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %18, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16 "
      "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15}, %16, %17, p, 1, 1, %19, 0;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15])
      : "l"(da), "l"(db), "r"(1), "n"(TA));
}
template <int TA>
__device__ __forceinline__ void wgmma(Tag<__half, 64>, float (&d)[32], std::uint64_t da, std::uint64_t db) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 "
      "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31}, %32, %33, p, 1, 1, %35, 0;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
      : "l"(da), "l"(db), "r"(1), "n"(TA));
}
template <int TA>
__device__ __forceinline__ void wgmma(Tag<__nv_bfloat16, 64>, float (&d)[32], std::uint64_t da, std::uint64_t db) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
      "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31}, %32, %33, p, 1, 1, %35, 0;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
      : "l"(da), "l"(db), "r"(1), "n"(TA));
}
template <int TA>
__device__ __forceinline__ void wgmma(Tag<__half, 128>, float (&d)[64], std::uint64_t da, std::uint64_t db) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 "
      "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63}, %64, %65, p, 1, 1, %67, 0;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "l"(da), "l"(db), "r"(1), "n"(TA));
}
template <int TA>
__device__ __forceinline__ void wgmma(Tag<__nv_bfloat16, 128>, float (&d)[64], std::uint64_t da, std::uint64_t db) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 "
      "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63}, %64, %65, p, 1, 1, %67, 0;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "l"(da), "l"(db), "r"(1), "n"(TA));
}

// Shared-memory matrix descriptor, 128-byte swizzle (PTX ISA, wgmma matrix descriptor).
__device__ __forceinline__ std::uint64_t descriptor(std::uint32_t address, std::uint32_t lbo, std::uint32_t sbo) {
  return static_cast<std::uint64_t>((address & 0x3FFFF) >> 4) | (static_cast<std::uint64_t>(lbo >> 4) << 16) |
         (static_cast<std::uint64_t>(sbo >> 4) << 32) | (1ull << 62);
}

// Makes this thread's shared-memory writes (cp.async, st.shared) visible to wgmma.
__device__ __forceinline__ void fence_async_proxy() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}


// The copies of a stage that complete on its mbarrier (PTX ISA: cp.async.bulk,
// cp.async.bulk.tensor, mbarrier), all issued by thread 0: the weight block as one bulk
// copy, and for an item of consecutive kept rows the activations as TMA tensor copies;
// one arrival announces their bytes, and the u-th fill of a stage completes the
// barrier's phase u. Against 16-byte cp.async by every thread, the bulk weight copy took
// 8-10% off the dense-rate steps (bench/NOTES.md): fewer per-thread copies in flight in
// a kernel that ncu shows latency-bound (L2 and SM both under half of peak).
struct StageLoads {
  std::uint32_t barriers;  // shared address of the first stage's barrier (8 bytes each)

  // Thread 0, then a barrier before any wait.
  __device__ __forceinline__ void init(int stages) const {
    for (int s = 0; s < stages; ++s)
      asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;\n" ::"r"(barriers + 8 * s) : "memory");
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  // Thread 0, before the stage's copies; the stage's previous contents are no longer
  // read (the caller's barrier).
  __device__ __forceinline__ void expect(int stage, int bytes) const {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(barriers + 8 * stage), "r"(bytes)
                 : "memory");
  }
  __device__ __forceinline__ void copy(int stage, std::uint32_t dst, const void* src, int bytes) const {
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(dst),
                 "l"(src), "r"(bytes), "r"(barriers + 8 * stage)
                 : "memory");
  }
  // The box of `map` at (x, y) (innermost coordinate first), swizzled as the map says.
  __device__ __forceinline__ void copy_tile(int stage, std::uint32_t dst, const CUtensorMap& map, int x, int y) const {
    asm volatile(
        "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];\n" ::"r"(dst),
        "l"(reinterpret_cast<std::uint64_t>(&map)), "r"(x), "r"(y), "r"(barriers + 8 * stage)
        : "memory");
  }
  // Every thread that reads the stage: its `use`-th fill (use = step / stages) has landed.
  __device__ __forceinline__ void wait(int stage, int use) const {
    std::uint32_t done = 0;
    do {
      asm volatile(
          "{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
          : "=r"(done)
          : "r"(barriers + 8 * stage), "r"(use & 1)
          : "memory");
    } while (done == 0);
  }
};

template <int N>
__device__ __forceinline__ void keep_in_registers(float (&d)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+f"(d[i])::"memory");
}

// Epilogue of a BM x BN block held by `threads` threads (warpgroups of 128, each owning
// 64 rows), tid counted from the first of them; `sync` is their barrier. The fp32
// block is staged out of the accumulator fragments (m64nN: warp w, lane l holds rows
// 16w + l/4 (+8) and columns 8q + 2(l%4) (+1) in registers 4q + {0,1} (+{2,3})) and
// written by tw_output::write_output.
template <class T, int BN, int BM, bool kTransposed, class Sync>
__device__ __forceinline__ void write_output(const TwLaunch& x, const TwItem& item, std::int64_t m0,
                                             std::uint8_t* smem, float (&acc)[BN / 2], int tid, int threads,
                                             std::int32_t column_index, Sync sync) {
  using Staging = tw_output::OutputStaging<BM, BN, kTransposed>;
  sync();  // the math is done with the shared memory the staging reuses
  float* staged = reinterpret_cast<float*>(smem);
  const int warpgroup = tid / 128, warp = (tid % 128) / 32, lane = tid % 32;
  const int r0 = warpgroup * 64 + warp * 16 + lane / 4;
#pragma unroll
  for (int q = 0; q < BN / 8; ++q) {
    const int col = q * 8 + (lane % 4) * 2;
#pragma unroll
    for (int h = 0; h < 2; ++h) Staging::store_pair(staged, r0 + h * 8, col, acc[q * 4 + h * 2], acc[q * 4 + h * 2 + 1]);
  }
  tw_output::write_output<T, BM, BN, kTransposed>(x, item, m0, smem, tid, threads, column_index, sync);
}

// Loads run LOOKAHEAD = STAGES - 1 steps ahead, into the stage whose wgmma batch has
// finished (each step waits for its batch: keeping one in flight measured slower,
// bench/NOTES.md).
// OUT_TRANSPOSED: C is written as Cᵀ (the transposed layout) or row-major; with
// transposed_async and a row-major C, x.a holds the Aᵀ copy the launcher made.
// a_rows (transposed_async and row_major_runs): x.a as a tensor of 64 x 64 boxes
// with the 128-byte swizzle (activation_rows_map), for the items of consecutive kept rows
// (TwItem::run_start); left zero, and never read, unless TwLaunch::has_run_items.
template <class T, int BN, int WARPGROUPS, int STAGES, Gather G, bool OUT_TRANSPOSED>
__global__ void __launch_bounds__(128 * WARPGROUPS, WARPGROUPS == 1 ? 3 : 1)
    tw_wgmma_kernel(const TwLaunch x, const int m_blocks, const __grid_constant__ CUtensorMap a_rows) {
#if defined(__CUDA_ARCH__) && !defined(__CUDA_ARCH_FEAT_SM90_ALL)
  // A device pass without wgmma (e.g. sm_80 of CMAKE_CUDA_ARCHITECTURES "80;90a") gets an
  // empty body: the dispatch table runs this kernel on compute capability 9.x only, where
  // the sm_90a image is the one loaded.
  __trap();
#else
  constexpr int LOOKAHEAD = STAGES - 1;
  static_assert(LOOKAHEAD >= 1, "at least one stage of lookahead");
  constexpr int kThreads = 128 * WARPGROUPS;
  constexpr int BM = WARPGROUPS * 64;
  constexpr int A_BYTES = BM * 128;  // BM rows x 64 kept rows x 2 bytes
  constexpr int B_BYTES = BN * 128;  // BN columns x 64 kept rows x 2 bytes
  constexpr int STAGE_BYTES = A_BYTES + B_BYTES;
  constexpr bool kTransposed = G == Gather::transposed_async || G == Gather::transposed_registers;
  constexpr int kChunks = BM * kBK / 8;  // 16-byte chunks of one activation stage
  constexpr int kChunksPerThread = kChunks / kThreads;
  static_assert(kChunks % kThreads == 0, "activation copies split evenly");
  static_assert(BN <= kThreads, "a thread per item column (load_column_index)");

  extern __shared__ std::uint8_t smem_raw[];
  // Swizzle atoms must start at 1024-byte boundaries (launch adds the slack).
  const std::uint32_t raw = smem_address(smem_raw);
  std::uint8_t* smem = smem_raw + ((1024 - (raw & 1023)) & 1023);
  const std::uint32_t smem_base = smem_address(smem);
  const StageLoads stage_loads{smem_base + STAGES * STAGE_BYTES};

  const int tid = threadIdx.x;
  // Aᵀ gather (transposed_async): thread tid copies the 16-byte chunk of activation rows
  // gather_c*8.. of kept rows gather_r + j*kRowsPerPass (j < kChunksPerThread) of each
  // step. Everything but the kept row's index is the same at every step, so the per-copy
  // work is one index load, one 32x32+64-bit multiply-add for the source and an immediate
  // destination offset (the swizzle depends on the kept row mod 8, which j does not change).
  constexpr int kRowsPerPass = kThreads / (BM / 8);
  static_assert(kRowsPerPass % 8 == 0, "a pass keeps the kept row's swizzle phase");
  const int gather_c = tid % (BM / 8), gather_r = tid / (BM / 8);

  // The item's kept-row indices: its slot of the plan's rows, found from the item's index
  // alone (kTwMinSlotSteps), so the first two steps' indices are loaded together with the
  // item, not after it (after the L2 flush, each is a trip to DRAM).
  const tw_output::RasterPosition at = tw_output::raster_position(x, m_blocks);
  const std::int32_t* rows = x.rows + static_cast<std::int64_t>(at.item) * x.rows_stride;
  static_assert(kTwMinSlotSteps >= 2, "the first two steps are loaded before the item");
  // A step's indices are loaded two steps before its copy is issued (into
  // row_indices[step % 2], run_step below), so the copy does not wait on them.
  auto load_row_indices = [&](int step, std::int32_t (&out)[kChunksPerThread]) {
    const std::int32_t* step_rows = rows + step * kBK + gather_r;
#pragma unroll
    for (int j = 0; j < kChunksPerThread; ++j) out[j] = step_rows[j * kRowsPerPass];
  };
  std::int32_t row_indices[2][kChunksPerThread];  // by step parity
  if constexpr (G == Gather::transposed_async) {
    // Not when every item with kept rows is a run (as at 0%): runs never read them.
    if (x.has_gathered_items && at.item < x.kept_items) {
      load_row_indices(0, row_indices[0]);
      load_row_indices(1, row_indices[1]);
    }
  }

  TwItem item;
  std::int64_t m0 = 0;
  if (!tw_output::start_item<T, BM, OUT_TRANSPOSED>(x, at, m_blocks, kThreads, item, m0)) return;
  const int steps = (item.kept_rows + kBK - 1) / kBK;
  const T* a = static_cast<const T*>(x.a);
  const std::uint8_t* values =
      reinterpret_cast<const std::uint8_t*>(static_cast<const T*>(x.values) + item.values_offset);
  const int warpgroup = tid / 128;
  const std::int32_t column_index = tw_output::load_column_index(x, item, tid);

  float acc[BN / 2];
#pragma unroll
  for (int i = 0; i < BN / 2; ++i) acc[i] = 0.0f;

  if (tid == 0) stage_loads.init(STAGES);
  __syncthreads();
  // Thread 0: the step's weight block, and its activations when they are the kept rows
  // run_start.. (run_start >= 0; one 64 x 64 box per 64 activation rows).
  auto copy_by_thread0 = [&](int stage, int step, std::int32_t run_start) {
    if (tid != 0) return;
    const std::uint32_t stage_base = smem_base + stage * STAGE_BYTES;
    stage_loads.expect(stage, run_start >= 0 ? STAGE_BYTES : B_BYTES);
    stage_loads.copy(stage, stage_base + A_BYTES, values + static_cast<std::int64_t>(step) * B_BYTES, B_BYTES);
    if (run_start >= 0) {
#pragma unroll
      for (int j = 0; j < BM / 64; ++j)
        if constexpr (kTransposed) {
          stage_loads.copy_tile(stage, stage_base + j * kAtomBytes, a_rows, static_cast<int>(m0) + 64 * j, run_start);
        } else {
          stage_loads.copy_tile(stage, stage_base + j * kAtomBytes, a_rows, run_start, static_cast<int>(m0) + 64 * j);
        }
    }
  };

  // Shared-memory offset of activation chunk (kept row r, rows/columns c*8..c*8+7).
  auto chunk_offset = [](int r, int c) -> std::uint32_t {
    if constexpr (kTransposed) {  // MN-major: atoms of 64 activation rows x 8-row groups of k
      return (c / 8) * kAtomBytes + r * 128 + (((c % 8) ^ (r % 8)) * 16);
    } else {  // K-major: activation row c, 8 kept rows r*8..r*8+7
      return c * 128 + (((r) ^ (c % 8)) * 16);
    }
  };

  const std::uint32_t gather_dst = chunk_offset(gather_r, gather_c);
  const std::uint64_t gather_src = reinterpret_cast<std::uintptr_t>(a + m0 + gather_c * 8);
  const bool gather_in = m0 + gather_c * 8 < x.m;  // M % 8 == 0 here: a chunk is all in or all out
  const std::uint32_t gather_pitch = static_cast<std::uint32_t>(x.m * sizeof(T));  // launch_config: M < 2^31

  auto copy_activations_async = [&](int stage, const std::int32_t (&row_of)[kChunksPerThread]) {
    const std::uint32_t dst = smem_base + stage * STAGE_BYTES + gather_dst;
#pragma unroll
    for (int j = 0; j < kChunksPerThread; ++j) {
      const std::int32_t row = row_of[j];  // -1: padding, zero-filled
      const std::uint64_t src = gather_src + static_cast<std::uint64_t>(static_cast<std::uint32_t>(max(row, 0))) * gather_pitch;
      cp_async16(dst + j * kRowsPerPass * 128, reinterpret_cast<const void*>(src), gather_in && row >= 0);
    }
  };

  uint4 held[kChunksPerThread];
  auto fetch_activations = [&](int step) {
#pragma unroll
    for (int j = 0; j < kChunksPerThread; ++j) {
      const int i = tid + j * kThreads;
      unsigned short e[8];
      if constexpr (kTransposed) {
        const int r = i / (BM / 8), c = i % (BM / 8);
        const std::int32_t row = rows[step * kBK + r];
#pragma unroll
        for (int t = 0; t < 8; ++t) {
          const std::int64_t m = m0 + c * 8 + t;
          e[t] = row >= 0 && m < x.m
                     ? __ldg(reinterpret_cast<const unsigned short*>(a + static_cast<std::int64_t>(row) * x.m + m))
                     : 0;
        }
      } else {
        const int c = i / 8, r = i % 8;  // activation row c, kept rows r*8..r*8+7
        const std::int64_t m = m0 + c;
#pragma unroll
        for (int t = 0; t < 8; ++t) {
          const std::int32_t row = rows[step * kBK + r * 8 + t];
          e[t] = row >= 0 && m < x.m ? __ldg(reinterpret_cast<const unsigned short*>(a + m * x.k + row)) : 0;
        }
      }
      held[j] = make_uint4(e[0] | (static_cast<unsigned>(e[1]) << 16), e[2] | (static_cast<unsigned>(e[3]) << 16),
                           e[4] | (static_cast<unsigned>(e[5]) << 16), e[6] | (static_cast<unsigned>(e[7]) << 16));
    }
  };
  auto store_activations = [&](int stage) {
#pragma unroll
    for (int j = 0; j < kChunksPerThread; ++j) {
      const int i = tid + j * kThreads;
      const int r = kTransposed ? i / (BM / 8) : i % 8, c = kTransposed ? i % (BM / 8) : i / 8;
      *reinterpret_cast<uint4*>(smem + stage * STAGE_BYTES + chunk_offset(r, c)) = held[j];
    }
  };

  // Operand descriptors of stage 0; a stage's are these plus its offset in 16-byte units
  // (the descriptor's address field; shared memory stays under its 256 KB range).
  const std::uint64_t a_descriptor = kTransposed ? descriptor(smem_base + warpgroup * kAtomBytes, 1024, 1024)
                                                 : descriptor(smem_base + warpgroup * kAtomBytes, 16, 1024);
  const std::uint64_t b_descriptor = descriptor(smem_base + A_BYTES, 16, 1024);

  // The main loop. kRuns (an item whose kept rows are item.run_start.. , see TwItem): the
  // activations of every step come as TMA boxes with the weights, by thread 0; otherwise
  // they are gathered (cp.async or through registers, by G).
  auto main_loop = [&](auto runs) {
    constexpr bool kRuns = decltype(runs)::value;
    // The copies of step `step` into `stage`; `row_of` its row indices (cp.async gather).
    auto issue_copies = [&](int stage, int step, const std::int32_t (&row_of)[kChunksPerThread]) {
      if constexpr (kRuns) {
        copy_by_thread0(stage, step, item.run_start + step * kBK);
      } else if constexpr (G == Gather::transposed_async) {
        copy_by_thread0(stage, step, -1);
        copy_activations_async(stage, row_of);
      } else {
        copy_by_thread0(stage, step, -1);
        fetch_activations(step);
      }
    };
#pragma unroll
    for (int s = 0; s < LOOKAHEAD; ++s) {
      if (s < steps) {
        // Steps 0 and 1 were loaded before the item; with 4 stages step 2 reuses step 0's set.
        if constexpr (G == Gather::transposed_async && !kRuns) {
          if (s >= 2) load_row_indices(s, row_indices[s % 2]);
        }
        issue_copies(s, s, row_indices[s % 2]);
        if constexpr (G != Gather::transposed_async && !kRuns) store_activations(s);
      }
      cp_async_commit();
    }
    if constexpr (G == Gather::transposed_async && !kRuns) {
      if (LOOKAHEAD < steps) load_row_indices(LOOKAHEAD, row_indices[LOOKAHEAD % 2]);
      if (LOOKAHEAD + 1 < steps) load_row_indices(LOOKAHEAD + 1, row_indices[(LOOKAHEAD + 1) % 2]);
    }

    // One step; `parity` (step % 2, a compile-time constant: the loop below runs steps in
    // pairs) picks the register set of row indices without indexing registers at run time.
    auto run_step = [&](int step, auto parity) {
      constexpr int kNextParity = (decltype(parity)::value + LOOKAHEAD) % 2;
      const int stage = step % STAGES;
      if constexpr (!kRuns) {
        cp_async_wait<LOOKAHEAD - 1>();
        fence_async_proxy();
      }
      stage_loads.wait(stage, step / STAGES);
      __syncthreads();
      const std::uint64_t stage_units = static_cast<std::uint64_t>(stage) * (STAGE_BYTES / 16);
      wgmma_fence();
#pragma unroll
      for (int ks = 0; ks < kBK / 16; ++ks) {
        const std::uint64_t db = b_descriptor + stage_units + ks * 32 / 16;
        // MN-major: k steps are whole 8-row groups (2 x 1024 bytes); K-major: 32 bytes in the swizzled row.
        const std::uint64_t da = a_descriptor + stage_units + ks * (kTransposed ? 2048 : 32) / 16;
        wgmma<kTransposed ? 1 : 0>(Tag<T, BN>{}, acc, da, db);
      }
      wgmma_commit();
      const int next = step + LOOKAHEAD;
      if (next < steps) {
        // Stage (step - 1) % STAGES: its batch finished before the barrier above.
        issue_copies(next % STAGES, next, row_indices[kNextParity]);
        if constexpr (G == Gather::transposed_async && !kRuns) {
          if (next + 2 < steps) load_row_indices(next + 2, row_indices[kNextParity]);
        }
      }
      if constexpr (!kRuns) cp_async_commit();
      if constexpr (G != Gather::transposed_async && !kRuns) {
        if (next < steps) store_activations(next % STAGES);
      }
      wgmma_wait<0>();
      keep_in_registers(acc);
    };
    for (int step = 0; step < steps; step += 2) {
      run_step(step, std::integral_constant<int, 0>{});
      if (step + 1 < steps) run_step(step + 1, std::integral_constant<int, 1>{});
    }
  };
  // Behind the row-major pass (TwLaunch::after_pass): past this point the pass has ended
  // and its Aᵀ and C are visible. Everything above reads only the plan (start_item writes
  // C only when C is transposed, which no pass precedes). Without a programmatic launch
  // this returns at once.
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
  if constexpr (G == Gather::row_major_runs) {
    main_loop(std::true_type{});
  } else if constexpr (G == Gather::transposed_async) {
    if (item.run_start >= 0) {
      main_loop(std::true_type{});
    } else {
      main_loop(std::false_type{});
    }
  } else {
    main_loop(std::false_type{});
  }
  wgmma_wait<0>();

  static_assert(tw_output::OutputStaging<BM, BN, OUT_TRANSPOSED>::kBytes <= STAGES * STAGE_BYTES,
                "staging fits the stages");
  write_output<T, BN, BM, OUT_TRANSPOSED>(x, item, m0, smem, acc, tid, kThreads, column_index, [] { __syncthreads(); });
#endif
}


// x.a as a tensor of 64 x 64 boxes with the 128-byte swizzle, so that a box lands where
// the gathers would put the same rows (one swizzle atom of an activation stage): Aᵀ (K x M)
// for transposed_async, boxes of 64 kept rows x 64 activation rows, MN-major; row-major A
// (M x K) for row_major_runs, 64 activation rows x 64 kept rows, K-major. OOB
// elements (past M, past K) are zeros.
template <class T>
CUtensorMap activation_rows_map(const TwLaunch& x, Gather g) {
  using Encode = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*,
                              const cuuint64_t*, const cuuint32_t*, const cuuint32_t*, CUtensorMapInterleave,
                              CUtensorMapSwizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill);
  static const Encode encode = [] {
    void* fn = nullptr;
    cudaDriverEntryPointQueryResult found{};
    TS_CHECK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &found));
    if (found != cudaDriverEntryPointSuccess || fn == nullptr)
      fail("cuda", "tw_wgmma_kernel", "the driver has no cuTensorMapEncodeTiled", __FILE__, __LINE__);
    return reinterpret_cast<Encode>(fn);
  }();
  CUtensorMap map{};
  const bool transposed = g == Gather::transposed_async;
  const std::int64_t inner = transposed ? x.m : x.k, outer = transposed ? x.k : x.m;
  const cuuint64_t dims[2] = {static_cast<cuuint64_t>(inner), static_cast<cuuint64_t>(outer)};
  const cuuint64_t strides[1] = {static_cast<cuuint64_t>(inner) * sizeof(T)};
  const cuuint32_t box[2] = {64, 64}, element_strides[2] = {1, 1};
  static_assert(kBK == 64, "a box is one step of kept rows");
  const CUresult r = encode(&map, std::is_same_v<T, __half> ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16,
                            2, const_cast<void*>(x.a), dims, strides, box, element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE,
                            CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS)
    fail("cuda", "tw_wgmma_kernel", std::string("cuTensorMapEncodeTiled for ") + (transposed ? "Aᵀ (" : "A (") +
         std::to_string(outer) + " x " + std::to_string(inner) + ") returned " + std::to_string(static_cast<int>(r)), __FILE__, __LINE__);
  return map;
}

template <class T, int BN, int WARPGROUPS, Gather G, int STAGES, bool OUT_TRANSPOSED>
void launch_config(const TwLaunch& x) {
  constexpr int kThreads = 128 * WARPGROUPS, BM = WARPGROUPS * 64;
  constexpr int kSmem = STAGES * (BM + BN) * 128 + 8 * STAGES + 1024;  // stages, barriers, alignment slack
  auto kernel = tw_wgmma_kernel<T, BN, WARPGROUPS, STAGES, G, OUT_TRANSPOSED>;
  static const bool configured = [&] {
    TS_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem));
    return true;
  }();
  (void)configured;
  const std::int64_t m_blocks = (x.m + BM - 1) / BM;
  const std::int64_t blocks = m_blocks * launched_items(x);
  if (blocks == 0) return;
  if (blocks > 0x7fffffff) fail("cuda", "tw_wgmma_kernel", "grid of " + std::to_string(blocks) + " blocks", __FILE__, __LINE__);
  if (x.m > 0x7fffffff) fail("cuda", "tw_wgmma_kernel", "M = " + std::to_string(x.m) + " (at most 2^31 - 1)", __FILE__, __LINE__);
  constexpr bool kReadsBoxes = G == Gather::transposed_async || G == Gather::row_major_runs;
  const CUtensorMap a_rows = kReadsBoxes && x.has_run_items ? activation_rows_map<T>(x, G) : CUtensorMap{};
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(static_cast<unsigned>(blocks));
  config.blockDim = dim3(kThreads);
  config.dynamicSmemBytes = kSmem;
  config.stream = x.stream;
  cudaLaunchAttribute after_pass{};
  after_pass.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  after_pass.val.programmaticStreamSerializationAllowed = 1;
  config.attrs = &after_pass;
  config.numAttrs = x.after_pass ? 1 : 0;
  TS_CHECK(cudaLaunchKernelEx(&config, kernel, x, static_cast<int>(m_blocks), a_rows));
  TS_CHECK_LAUNCH("tw_wgmma_kernel");
}

// Activation rows per CTA (tw_wgmma_row_block; TILESPARSE_TW_WGMMA_BM = 64 or 128 forces
// one, for tuning runs), for the cp.async/TMA gather of Aᵀ; the register gathers take 128.
inline int row_block(const TwLaunch& x) {
  static const int forced = forced_row_block("TILESPARSE_TW_WGMMA_BM");
  return forced != 0 ? forced : tw_wgmma_row_block(x.m, x.kept_items, x.kept_steps, current_sm_count());
}

// One warpgroup pair per 128 activation rows, two CTAs per SM (3 stages of 128-column
// items fit twice in shared memory): on the BERT-large shapes this beat 256-row CTAs
// (1 per SM), 4 stages, keeping one wgmma batch in flight, and a warp-specialised
// persistent variant (bench/NOTES.md); or one warpgroup per 64 rows, three CTAs per SM
// (row_block). The gather: row_major_runs where the launcher made no Aᵀ copy for it
// (wgmma_reads_row_major_a_in_place), else launch_by_gather.
template <class T>
void launch_typed(const TwLaunch& x) {
  launch_by_column_block(x, "launch_tw_wgmma", [&](auto bn) {
    constexpr int BN = decltype(bn)::value, STAGES = BN == 128 ? 3 : 4;
    if (x.has_run_items && wgmma_reads_row_major_a_in_place(x))
      return launch_config<T, BN, 2, Gather::row_major_runs, STAGES, false>(x);
    launch_by_gather(x, [](const TwLaunch& y, auto gather, auto out_transposed) {
      constexpr Gather G = decltype(gather)::value;
      if constexpr (G == Gather::transposed_async) {
        if (row_block(y) == 64) {
          TwLaunch z = y;
          z.one_wave = true;  // tw_wgmma_row_block picks 64 rows only for a grid of one wave
          return launch_config<T, BN, 1, G, STAGES, decltype(out_transposed)::value>(z);
        }
      }
      launch_config<T, BN, 2, G, STAGES, decltype(out_transposed)::value>(y);
    });
  });
}

extern template void launch_typed<__half>(const TwLaunch&);
extern template void launch_typed<__nv_bfloat16>(const TwLaunch&);

}  // namespace tilesparse::cuda::tw_wgmma_detail

// The sparse residual of a TEW weight: c = A · R for R given as CSR of Rᵀ (one row per
// output feature, k indices strictly increasing within a row). The TW kernel then adds
// its tiles on top (TwLaunch::accumulate), so a TEW matmul is this pass plus the TW
// launch. Every element of c is written. Only fp32 TEW (the CUDA-core TW kernel) takes
// this pass; the kernels are written for any element type (T) but instantiated for float.
//
// Two kernels:
//  * tiled (transposed layout, M % 8 == 0, A and C 16-byte aligned): a CTA computes a
//    tile of Cᵀ, 64 output features x 256 m, in registers (two CTAs per SM). It walks K
//    in chunks: the chunk's rows of Aᵀ (256 m each) are staged in shared memory by
//    cp.async, double buffered, and every feature of the tile takes its residual entries
//    in the chunk from there. A is read from L2 once per 64 features, not once per
//    residual entry. Its cost is instructions (16-bit A: ~27 per entry and 256 m for 8 FMAs,
//    bench/NOTES.md).
//  * elementwise (any other case): one thread per output element walking its feature's
//    entries, A read straight from global memory.

#include <algorithm>
#include <climits>
#include <cstdint>

#include "backends/cuda/async_copy.cuh"
#include "backends/cuda/check.hpp"
#include "backends/cuda/element_ops.cuh"
#include "backends/cuda/tw_launch.hpp"

namespace tilesparse::cuda {

namespace {

template <class T>
__global__ void csr_residual_elementwise_kernel(const CsrResidualLaunch x) {
  const T* a = static_cast<const T*>(x.a);
  const T* values = static_cast<const T*>(x.values);
  T* c = static_cast<T*>(x.c);
  // The thread index runs along the contiguous axis of the layout: over m for Cᵀ (the
  // k-th row of Aᵀ is read by neighbouring threads), over n for row-major C.
  const std::int64_t fast_extent = x.transposed ? x.m : x.n;
  const std::int64_t slow_extent = x.transposed ? x.n : x.m;
  const std::int64_t fast = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (fast >= fast_extent) return;
  for (std::int64_t slow = blockIdx.y; slow < slow_extent; slow += gridDim.y) {
    const std::int64_t m = x.transposed ? fast : slow;
    const std::int64_t n = x.transposed ? slow : fast;
    float sum = 0.0f;
    for (std::int64_t e = x.row_ptr[n]; e < x.row_ptr[n + 1]; ++e) {
      const std::int64_t k = x.k_idx[e];
      sum += load_value(values + e) * load_value(a + (x.transposed ? k * x.m + m : m * x.k + k));
    }
    store_value(c + (x.transposed ? n * x.m + m : m * x.n + n), sum);
  }
}

template <class T>
void launch_elementwise(const CsrResidualLaunch& x) {
  const std::int64_t fast = x.transposed ? x.m : x.n, slow = x.transposed ? x.n : x.m;
  const int threads = 256;
  const dim3 grid(static_cast<unsigned>((fast + threads - 1) / threads),
                  static_cast<unsigned>(std::min<std::int64_t>(slow, 65535)));
  csr_residual_elementwise_kernel<T><<<grid, threads, 0, x.stream>>>(x);
  TS_CHECK_LAUNCH("csr_residual_elementwise_kernel");
}

// The tiled kernel's shape. Each warp owns kRowsPerWarp features; each lane 8 m of the
// tile, as 16-byte pieces (kPieces of kVec elements) at m = piece * 32 * kVec + lane * kVec,
// so a warp's shared-memory reads of one staged row are 512 contiguous bytes per piece.
constexpr int kTiledThreads = 256;
constexpr int kRowsPerWarp = 8;
constexpr int kBatch = 4;  // entries of a feature taken together
constexpr int kTileRows = kTiledThreads / 32 * kRowsPerWarp;  // output features per CTA
constexpr int kTileM = 256;
constexpr int kStagedBytes = 32 * 1024;  // one chunk of staged Aᵀ rows
template <class T>
struct TiledShape {
  static constexpr int kVec = 16 / sizeof(T);               // elements per 16-byte piece
  static constexpr int kPieces = 8 / kVec;                  // pieces per lane
  static constexpr int kChunk = kStagedBytes / (kTileM * sizeof(T));  // K rows per chunk
  static constexpr int kCopies = kStagedBytes / 16 / kTiledThreads;   // cp.async per thread per chunk
};

template <class T>
__global__ void __launch_bounds__(kTiledThreads, 2) csr_residual_tiled_kernel(const CsrResidualLaunch x) {
  using S = TiledShape<T>;
  extern __shared__ uint4 staged_raw[];  // two chunks of kChunk x kTileM elements
  T* staged = reinterpret_cast<T*>(staged_raw);
  const T* a = static_cast<const T*>(x.a);
  const T* values = static_cast<const T*>(x.values);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const std::int64_t m_tile = static_cast<std::int64_t>(blockIdx.x) * kTileM;
  const std::int64_t row0 = static_cast<std::int64_t>(blockIdx.y) * kTileRows + warp * kRowsPerWarp;

  // Chunk `chunk` of Aᵀ rows into buffer chunk % 2; rows past K and m past M zero-filled
  // (M % 8 == 0: a piece is all in or all out).
  const auto copy_chunk = [&](std::int64_t chunk) {
    T* buffer = staged + (chunk % 2) * S::kChunk * kTileM;
#pragma unroll
    for (int j = 0; j < S::kCopies; ++j) {
      const int i = threadIdx.x + j * kTiledThreads;
      const int r = i / (kTileM / S::kVec), p = i % (kTileM / S::kVec);
      const std::int64_t k = chunk * S::kChunk + r, m = m_tile + p * S::kVec;
      const bool valid = k < x.k && m < x.m;
      cp_async16(smem_address(buffer + r * kTileM + p * S::kVec), valid ? a + k * x.m + m : a, valid);
    }
    cp_async_commit();
  };

  // Each feature's next 32 entries, one per lane (k = INT_MAX past the feature's end);
  // entries of earlier chunks stay in the window with k below the chunk. The window
  // moves on when all 32 are used; the feature's next entry is kept in shared memory.
  __shared__ std::int64_t next_entry[kTileRows], end_entry[kTileRows];
  int window_k[kRowsPerWarp];
  float window_v[kRowsPerWarp];
  const auto load_window = [&](int r) {
    const std::int64_t e = next_entry[warp * kRowsPerWarp + r] + lane;
    const bool in = e < end_entry[warp * kRowsPerWarp + r];
    window_k[r] = in ? x.k_idx[e] : INT_MAX;
    window_v[r] = in ? load_value(values + e) : 0.0f;
  };
  if (lane < kRowsPerWarp) {
    const std::int64_t row = row0 + lane;
    next_entry[warp * kRowsPerWarp + lane] = row < x.n ? x.row_ptr[row] : 0;
    end_entry[warp * kRowsPerWarp + lane] = row < x.n ? x.row_ptr[row + 1] : 0;
  }
  __syncwarp();
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) load_window(r);

  float acc[kRowsPerWarp][8];
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r)
#pragma unroll
    for (int i = 0; i < 8; ++i) acc[r][i] = 0.0f;

  const std::int64_t chunks = (x.k + S::kChunk - 1) / S::kChunk;
  copy_chunk(0);
  for (std::int64_t chunk = 0; chunk < chunks; ++chunk) {
    if (chunk + 1 < chunks) {
      copy_chunk(chunk + 1);
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();  // the chunk has landed for every thread's copies
    const T* buffer = staged + (chunk % 2) * S::kChunk * kTileM;
    const int k_begin = static_cast<int>(chunk * S::kChunk);  // K < 2^31 (CSR k indices are int32)
    const int k_end = k_begin + S::kChunk;
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      while (true) {
        const int k_lane = window_k[r];
        // Entries are sorted by k: the ones in this chunk are a run of the window.
        const unsigned in_chunk = __ballot_sync(0xffffffffu, k_lane >= k_begin && k_lane < k_end);
        const int first = __ffs(in_chunk) - 1, count = __popc(in_chunk);
        // kBatch entries at a time: their shuffles and shared-memory reads are independent,
        // so one batch waits for the memory pipe once (padding repeats the first entry, v = 0).
        for (int base = 0; base < count; base += kBatch) {
          int k[kBatch];
          float v[kBatch];
#pragma unroll
          for (int q = 0; q < kBatch; ++q) {
            const bool valid = base + q < count;
            k[q] = __shfl_sync(0xffffffffu, k_lane, valid ? first + base + q : first);
            v[q] = __shfl_sync(0xffffffffu, window_v[r], valid ? first + base + q : first);
            if (!valid) v[q] = 0.0f;
          }
          uint4 pieces[kBatch][S::kPieces];
#pragma unroll
          for (int q = 0; q < kBatch; ++q)
#pragma unroll
            for (int p = 0; p < S::kPieces; ++p)
              pieces[q][p] = *reinterpret_cast<const uint4*>(buffer + (k[q] - k_begin) * kTileM + p * 32 * S::kVec +
                                                              lane * S::kVec);
#pragma unroll
          for (int q = 0; q < kBatch; ++q)
#pragma unroll
            for (int p = 0; p < S::kPieces; ++p) {
              const T* e = reinterpret_cast<const T*>(&pieces[q][p]);
#pragma unroll
              for (int i = 0; i < S::kVec; ++i) acc[r][p * S::kVec + i] += v[q] * load_value(e + i);
            }
        }
        // The whole window lies before the chunk's end: the feature may have more entries.
        if (__shfl_sync(0xffffffffu, k_lane, 31) >= k_end) break;
        if (lane == 0) next_entry[warp * kRowsPerWarp + r] += 32;
        __syncwarp();
        load_window(r);
        if (__shfl_sync(0xffffffffu, window_k[r], 0) == INT_MAX) break;  // no entries left
      }
    }
    __syncthreads();  // every warp is done with the buffer the next copy overwrites
  }

  T* c = static_cast<T*>(x.c);
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const std::int64_t row = row0 + r;
    if (row >= x.n) break;
#pragma unroll
    for (int p = 0; p < S::kPieces; ++p) {
      const std::int64_t m = m_tile + p * 32 * S::kVec + lane * S::kVec;
      if (m >= x.m) continue;
      union {
        uint4 u;
        T t[S::kVec];
      } out;
#pragma unroll
      for (int i = 0; i < S::kVec; ++i) store_value(&out.t[i], acc[r][p * S::kVec + i]);
      *reinterpret_cast<uint4*>(c + row * x.m + m) = out.u;
    }
  }
}

template <class T>
void launch_tiled(const CsrResidualLaunch& x) {
  constexpr int kSmem = 2 * kStagedBytes;
  static const bool configured = [] {
    TS_CHECK(cudaFuncSetAttribute(csr_residual_tiled_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem));
    return true;
  }();
  (void)configured;
  const dim3 grid(static_cast<unsigned>((x.m + kTileM - 1) / kTileM),
                  static_cast<unsigned>((x.n + kTileRows - 1) / kTileRows));
  csr_residual_tiled_kernel<T><<<grid, kTiledThreads, kSmem, x.stream>>>(x);
  TS_CHECK_LAUNCH("csr_residual_tiled_kernel");
}

template <class T>
void launch(const CsrResidualLaunch& x) {
  if (x.m == 0 || x.n == 0) return;
  const auto aligned = [](const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; };
  if (x.transposed && x.m % 8 == 0 && aligned(x.a) && aligned(x.c) && (x.n + kTileRows - 1) / kTileRows <= 65535 &&
      (x.m + kTileM - 1) / kTileM <= 0x7fffffff)
    return launch_tiled<T>(x);
  launch_elementwise<T>(x);
}

}  // namespace

void launch_csr_residual_f32(const CsrResidualLaunch& x) { launch<float>(x); }

}  // namespace tilesparse::cuda

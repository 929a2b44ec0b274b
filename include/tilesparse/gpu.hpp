#pragma once
// GPU plumbing of the CUDA backend: device buffers, streams, device copies of matrices
// and of every weight format, and matmul on device pointers. Never includes CUDA
// headers (DESIGN.md §3): device handles are opaque. Defined only in a library built
// with TILESPARSE_CUDA (then TILESPARSE_HAS_CUDA is defined for users); every CUDA,
// cuBLAS, cuSPARSE and cuSPARSELt failure is thrown as tilesparse::Error naming the
// call, its status and the source line.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "tilesparse/core/matrix.hpp"
#include "tilesparse/formats/weight.hpp"
#include "tilesparse/ops.hpp"

namespace tilesparse::gpu {

struct DeviceInfo {
  bool present = false;
  std::string reason;  // why no device is usable, when !present
  std::string name;    // e.g. "NVIDIA H100 80GB HBM3"
  int cc_major = 0, cc_minor = 0;
  int sm_count = 0;
  std::size_t l2_bytes = 0;
  std::size_t memory_bytes = 0;
};
// The calling thread's current CUDA device (cudaSetDevice; device 0 unless the caller
// chose another); never throws (a driver/runtime failure becomes present = false + reason).
DeviceInfo device_info();
// The current device's compute capability as major * 10 + minor (0 without a usable
// device): what the dispatch table checks its entries against, asked at every dispatch
// (read once per device index), so a thread that switches devices gets that device's
// kernels.
int compute_capability() noexcept;

// An owned CUDA stream (created non-blocking). Work submitted through the APIs below is
// asynchronous on it; synchronize() before reading results on the host.
class Stream {
 public:
  Stream();
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  void synchronize() const;
  void* native() const noexcept { return handle_; }  // a cudaStream_t

 private:
  void* handle_ = nullptr;
};

// An owned allocation of device memory (cudaMalloc: 256-byte aligned). Empty when bytes == 0.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& o) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* data() const noexcept { return data_; }
  std::size_t bytes() const noexcept { return bytes_; }
  // Synchronous host<->device copies of `bytes` (<= this->bytes()) from/to host memory.
  void upload(const void* host, std::size_t bytes);
  void download(void* host, std::size_t bytes) const;
  // Sets every byte to `value` on the stream (0xFF makes f32, f16 and bf16 NaN).
  void fill_bytes(std::uint8_t value, const Stream& stream);

 private:
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
};

// A row-major rows x cols matrix on the device, elements stored in dtype.
class DeviceMatrix {
 public:
  DeviceMatrix() = default;
  DeviceMatrix(std::int64_t rows, std::int64_t cols, DType dtype);
  static DeviceMatrix upload(const HostMatrix& m);
  HostMatrix download() const;
  // Fills every element with NaN (all bits set), so unwritten outputs show.
  void poison(const Stream& stream);

  std::int64_t rows() const noexcept { return rows_; }
  std::int64_t cols() const noexcept { return cols_; }
  DType dtype() const noexcept { return dtype_; }
  void* data() const noexcept { return buffer_.data(); }

 private:
  std::int64_t rows_ = 0, cols_ = 0;
  DType dtype_ = DType::f32;
  DeviceBuffer buffer_;
};

// A weight on the device: every array of its serialized form (FormatArrays) copied as
// is, so every format travels; the vendor libraries' own forms (int32 CSR offsets,
// cuSPARSELt compressed 2:4 and per-M plans) are built from it on first use and cached
// inside, never per call. Not safe to use from two threads at once.
class DeviceWeight {
 public:
  struct Impl;
  DeviceWeight();
  ~DeviceWeight();
  DeviceWeight(DeviceWeight&&) noexcept;
  DeviceWeight& operator=(DeviceWeight&&) noexcept;

  static DeviceWeight upload(const Weight& w);
  // Copies the arrays back and rebuilds the format (validated).
  Weight download() const;

  Pattern pattern() const;
  std::int64_t k() const;
  std::int64_t n() const;
  DType dtype() const;
  // Bytes of the uploaded arrays (not counting cached vendor forms).
  std::size_t device_bytes() const;
  // Output columns with any kept weight: the width of a compact TW output (N otherwise).
  std::int64_t kept_columns() const;

  Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// How the activations are stored. row_major: `a` holds A (M x K) and `c` receives C
// (M x N). transposed: `a` holds Aᵀ (K x M) and `c` receives Cᵀ (N x M), the layout of the
// TileSparsity paper that makes the gather of a tile's kept K rows read whole rows of
// Aᵀ; consecutive layers chain in it without transposes.
enum class Layout : std::uint8_t { row_major, transposed };
std::string_view to_string(Layout l);

// The device-side options of a matmul: the bias (N floats already on the device, or
// null) and the activation are applied in the kernel where it fuses them, else in one
// extra pass.
struct DeviceOptions {
  const DeviceBuffer* bias = nullptr;
  Activation activation = Activation::none;
  Layout layout = Layout::row_major;
  // false: a kernel that fuses the epilogue leaves it to the separate pass instead (for
  // measuring what fusion saves).
  bool fuse_epilogue = true;
  // TW only: write just the kept output columns, in the weight's col_map order, so C is
  // M x kept_columns (Cᵀ kept_columns x M). The pruned columns hold activation(bias),
  // the same for every row: a next layer can fold them into its bias instead of reading
  // them. Saves the output traffic of the pruned columns.
  bool compact_output = false;
  // Empty: the dispatch table's choice, its first entry that fits the pattern, dtype,
  // layout and device (for TW/TEW f16/bf16: cuda.tw.wgmma on compute capability 9.x, else
  // cuda.tw.mma). Otherwise the name of the entry to run (e.g. "cuda.tw.mma" to time it
  // against "cuda.tw.wgmma"); matmul throws Error naming the problem when it does not fit.
  std::string kernel;
};

// C = A · W (+ epilogue) on the device, asynchronous on `stream`; A and C in W's dtype,
// C preallocated (shapes by options.layout). Dispatches through the same table as the
// host matmul; throws Error when no kernel fits (pattern, dtype or layout).
void matmul(const DeviceMatrix& a, const DeviceWeight& w, DeviceMatrix& c, const DeviceOptions& options,
            const Stream& stream);

// The same with a host epilogue (options.backend must be cuda): the bias is uploaded per
// call and the stream synchronized before return; row-major layout.
void matmul(const DeviceMatrix& a, const DeviceWeight& w, DeviceMatrix& c, const MatmulOptions& options,
            const Stream& stream);

// Name of the kernel the table picks for this weight and layout on the current device (for
// benchmarks/logs); `kernel` forces an entry as DeviceOptions::kernel does (Error when it
// does not fit).
std::string kernel_name(const DeviceWeight& w, Layout layout, const std::string& kernel = "");

}  // namespace tilesparse::gpu

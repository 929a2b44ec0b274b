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
// Device 0; never throws (a driver/runtime failure becomes present = false + reason).
DeviceInfo device_info();

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

  Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// C = A · W (+ epilogue) on the device, asynchronous on `stream`. A: M x K, C: M x N
// preallocated, both in W's dtype. Dispatches through the same table as the host
// matmul (options.backend must be cuda); throws Error when no kernel fits.
void matmul(const DeviceMatrix& a, const DeviceWeight& w, DeviceMatrix& c, const MatmulOptions& options,
            const Stream& stream);

}  // namespace tilesparse::gpu

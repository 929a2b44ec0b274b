// Device info, streams, buffers and matrices: the RAII layer every other GPU file uses.
#include <array>
#include <atomic>
#include <string>
#include <utility>

#include "backends/cuda/check.hpp"
#include "tilesparse/core/tensor.hpp"
#include "tilesparse/gpu.hpp"

namespace tilesparse::gpu {

DeviceInfo device_info() {
  DeviceInfo info;
  int count = 0;
  const cudaError_t s = cudaGetDeviceCount(&count);
  if (s != cudaSuccess) {
    info.reason = std::string("cudaGetDeviceCount failed: ") + cudaGetErrorName(s) + " (" + cudaGetErrorString(s) + ")";
    return info;
  }
  if (count == 0) {
    info.reason = "no CUDA device found";
    return info;
  }
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess) {
    info.reason = "cudaGetDevice failed";
    return info;
  }
  cudaDeviceProp p{};
  if (cudaGetDeviceProperties(&p, device) != cudaSuccess) {
    info.reason = "cudaGetDeviceProperties failed on device " + std::to_string(device);
    return info;
  }
  info.present = true;
  info.name = p.name;
  info.cc_major = p.major;
  info.cc_minor = p.minor;
  info.sm_count = p.multiProcessorCount;
  info.l2_bytes = static_cast<std::size_t>(p.l2CacheSize);
  info.memory_bytes = p.totalGlobalMem;
  return info;
}

int compute_capability() noexcept {
  // Asked at every dispatch: the attributes are read once per device index, after that
  // a call costs cudaGetDevice and one atomic load (cc + 1 stored, 0 = not read yet).
  static std::array<std::atomic<int>, 64> known{};
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess) return 0;
  const bool cached = device >= 0 && device < static_cast<int>(known.size());
  if (cached) {
    const int cc = known[device].load(std::memory_order_relaxed);
    if (cc > 0) return cc - 1;
  }
  int count = 0, major = 0, minor = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || device >= count) return 0;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess) return 0;
  if (cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device) != cudaSuccess) return 0;
  if (cached) known[device].store(major * 10 + minor + 1, std::memory_order_relaxed);
  return major * 10 + minor;
}

Stream::Stream() {
  cudaStream_t s = nullptr;
  TS_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  handle_ = s;
}

Stream::~Stream() { cudaStreamDestroy(static_cast<cudaStream_t>(handle_)); }

void Stream::synchronize() const { TS_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(handle_))); }

DeviceBuffer::DeviceBuffer(std::size_t bytes) : bytes_(bytes) {
  if (bytes > 0) TS_CHECK(cudaMalloc(&data_, bytes));
}

DeviceBuffer::~DeviceBuffer() {
  if (data_) cudaFree(data_);
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  if (this != &o) {
    if (data_) cudaFree(data_);
    data_ = std::exchange(o.data_, nullptr);
    bytes_ = std::exchange(o.bytes_, 0);
  }
  return *this;
}

void DeviceBuffer::upload(const void* host, std::size_t bytes) {
  require(bytes <= bytes_, "DeviceBuffer::upload",
          "copy of " + std::to_string(bytes) + " bytes into a buffer of " + std::to_string(bytes_));
  if (bytes > 0) {
    TS_CHECK(cudaMemcpy(data_, host, bytes, cudaMemcpyHostToDevice));
    // From pageable memory cudaMemcpy may return before the DMA lands, and our streams
    // are non-blocking: without this wait a kernel on them can read the old contents.
    TS_CHECK(cudaStreamSynchronize(cudaStreamLegacy));
  }
}

void DeviceBuffer::download(void* host, std::size_t bytes) const {
  require(bytes <= bytes_, "DeviceBuffer::download",
          "copy of " + std::to_string(bytes) + " bytes out of a buffer of " + std::to_string(bytes_));
  if (bytes > 0) TS_CHECK(cudaMemcpy(host, data_, bytes, cudaMemcpyDeviceToHost));
}

void DeviceBuffer::fill_bytes(std::uint8_t value, const Stream& stream) {
  if (bytes_ > 0) TS_CHECK(cudaMemsetAsync(data_, value, bytes_, static_cast<cudaStream_t>(stream.native())));
}

DeviceMatrix::DeviceMatrix(std::int64_t rows, std::int64_t cols, DType dtype)
    : rows_(rows), cols_(cols), dtype_(dtype), buffer_(static_cast<std::size_t>(rows * cols) * size_of(dtype)) {
  require(rows >= 0 && cols >= 0, "DeviceMatrix", "negative shape", shape_str({rows, cols}));
}

DeviceMatrix DeviceMatrix::upload(const HostMatrix& m) {
  DeviceMatrix d(m.rows(), m.cols(), m.dtype());
  const Tensor t = to_tensor(m);  // the values as dtype bytes
  d.buffer_.upload(t.bytes.data(), t.bytes.size());
  return d;
}

HostMatrix DeviceMatrix::download() const {
  Tensor t{elem_type_of(dtype_), {rows_, cols_}, {}};
  t.bytes.resize(buffer_.bytes());
  buffer_.download(t.bytes.data(), t.bytes.size());
  return to_matrix(t, "device matrix");
}

void DeviceMatrix::poison(const Stream& stream) { buffer_.fill_bytes(0xFF, stream); }

}  // namespace tilesparse::gpu

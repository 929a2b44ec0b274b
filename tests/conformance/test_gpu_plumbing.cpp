// Device buffers, matrices and weights: copies are exact, poisoning shows, failures of
// CUDA calls come back as Error naming the call.
#include <cmath>

#include "conformance/gpu_test_util.hpp"

namespace tilesparse {
namespace {

using test::pruned_weight;

TEST(GpuDevice, InfoNamesTheDevice) {
  TILESPARSE_SKIP_WITHOUT_GPU();
  const auto info = gpu::device_info();
  EXPECT_FALSE(info.name.empty());
  EXPECT_GT(info.sm_count, 0);
  EXPECT_GT(info.l2_bytes, 0u);
  EXPECT_EQ(gpu::compute_capability(), info.cc_major * 10 + info.cc_minor);
  std::printf("device: %s, sm_%d%d, %d SMs, L2 %zu bytes\n", info.name.c_str(), info.cc_major, info.cc_minor,
              info.sm_count, info.l2_bytes);
}

TEST(GpuDevice, MatrixRoundTripIsExactForEveryDtype) {
  TILESPARSE_SKIP_WITHOUT_GPU();
  for (DType dt : {DType::f32, DType::f16, DType::bf16}) {
    const HostMatrix m = HostMatrix::random(7, 13, dt, 11);
    EXPECT_EQ(gpu::DeviceMatrix::upload(m).download(), m) << to_string(dt);
  }
  EXPECT_EQ(gpu::DeviceMatrix::upload(HostMatrix(0, 5)).download(), HostMatrix(0, 5));
}

TEST(GpuDevice, PoisonMakesEveryElementNaN) {
  TILESPARSE_SKIP_WITHOUT_GPU();
  const gpu::Stream stream;
  for (DType dt : {DType::f32, DType::f16, DType::bf16}) {
    gpu::DeviceMatrix d = gpu::DeviceMatrix::upload(HostMatrix::random(3, 5, dt, 2));
    d.poison(stream);
    stream.synchronize();
    const HostMatrix back = d.download();
    for (float v : back.values()) EXPECT_TRUE(std::isnan(v)) << to_string(dt);
  }
}

TEST(GpuDevice, EveryWeightFormatRoundTrips) {
  TILESPARSE_SKIP_WITHOUT_GPU();
  for (Pattern p : {Pattern::dense, Pattern::ew, Pattern::bw, Pattern::nm, Pattern::sp24, Pattern::tw, Pattern::tew}) {
    for (DType dt : {DType::f32, DType::f16}) {
      const Weight w = pruned_weight(p, 37, 21, dt, 5);
      const gpu::DeviceWeight d = gpu::DeviceWeight::upload(w);
      EXPECT_EQ(d.pattern(), p);
      EXPECT_EQ(d.k(), 37);
      EXPECT_EQ(d.n(), 21);
      EXPECT_GT(d.device_bytes(), 0u);
      EXPECT_TRUE(d.download() == w) << "pattern " << to_string(p) << " dtype " << to_string(dt);
    }
  }
}

TEST(GpuDevice, OversizedCopyIsRejected) {
  TILESPARSE_SKIP_WITHOUT_GPU();
  gpu::DeviceBuffer b(16);
  const std::vector<char> host(32);
  try {
    b.upload(host.data(), host.size());
    FAIL() << "expected Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("copy of 32 bytes into a buffer of 16"), std::string::npos) << e.what();
  }
}

TEST(GpuDevice, FailedAllocationNamesTheCall) {
  TILESPARSE_SKIP_WITHOUT_GPU();
  try {
    gpu::DeviceBuffer b(std::size_t{1} << 60);
    FAIL() << "expected Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.op(), "cuda");
    EXPECT_NE(e.reason().find("cudaMalloc"), std::string::npos) << e.what();
    EXPECT_NE(e.reason().find("cudaErrorMemoryAllocation"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace tilesparse

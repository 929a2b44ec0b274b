// The dispatch table's choice without a device: select_kernel for a given compute
// capability (the TW/TEW tensor-core entries: wgmma on 9.x only, mma.sync on 8.0 and
// later), forced entries, and the reasons it gives when nothing fits.
#include <gtest/gtest.h>

#include "tilesparse/core/error.hpp"
#include "tilesparse/ops.hpp"

namespace tilesparse {
namespace {

// The Error text of select_kernel, or a failure when it picks something.
std::string selection_error(Pattern p, DType dt, bool transposed, int cc, const std::string& forced = "") {
  try {
    const std::string picked = select_kernel(p, Backend::cuda, dt, transposed, cc, forced);
    ADD_FAILURE() << "picked " << picked;
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(TwKernelDispatch, ReferenceEntriesAndNames) {
  EXPECT_EQ(select_kernel(Pattern::tw, Backend::ref, DType::f16, false, 0), "ref.tw");
  EXPECT_EQ(select_kernel(Pattern::tew, Backend::ref, DType::bf16, false, 0, "ref.tew"), "ref.tew");
  EXPECT_EQ(kernel_pattern("ref.tw"), Pattern::tw);
  EXPECT_EQ(kernel_pattern("ref.24"), Pattern::sp24);
  EXPECT_FALSE(kernel_pattern("cuda.tw.fast").has_value());
  try {
    select_kernel(Pattern::tw, Backend::ref, DType::f16, false, 0, "ref.tw.fast");
    FAIL();
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "unknown kernel 'ref.tw.fast' (the table has: ref.dense, ")) << e.what();
  }
  try {
    select_kernel(Pattern::tw, Backend::ref, DType::f16, false, 0, "ref.tew");
    FAIL();
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "kernel ref.tew runs pattern tew on backend ref with dtype any, not pattern tw"))
        << e.what();
  }
}

#if TILESPARSE_HAS_CUDA
TEST(TwKernelDispatch, TensorCoreKernelFollowsTheComputeCapability) {
  for (const DType dt : {DType::f16, DType::bf16}) {
    for (const bool transposed : {false, true}) {
      EXPECT_EQ(select_kernel(Pattern::tw, Backend::cuda, dt, transposed, 90), "cuda.tw.wgmma");
      EXPECT_EQ(select_kernel(Pattern::tew, Backend::cuda, dt, transposed, 90), "cuda.tew.wgmma");
      for (const int cc : {80, 86, 89, 100, 120}) {  // Ampere, Ada, Blackwell: no sm_90a image loads there
        EXPECT_EQ(select_kernel(Pattern::tw, Backend::cuda, dt, transposed, cc), "cuda.tw.mma") << cc;
        EXPECT_EQ(select_kernel(Pattern::tew, Backend::cuda, dt, transposed, cc), "cuda.tew.mma") << cc;
      }
    }
  }
  // fp32 takes the CUDA-core kernel on any device.
  EXPECT_EQ(select_kernel(Pattern::tw, Backend::cuda, DType::f32, true, 75), "cuda.tw.simt");
  EXPECT_EQ(select_kernel(Pattern::tew, Backend::cuda, DType::f32, false, 90), "cuda.tew.simt");
}

TEST(TwKernelDispatch, TooOldOrNoDeviceNamesEveryRequirement) {
  const std::string old = selection_error(Pattern::tw, DType::f16, false, 75);
  EXPECT_TRUE(contains(old, "kernel cuda.tw.wgmma needs compute capability 9.x, the device has 7.5")) << old;
  EXPECT_TRUE(contains(old, "kernel cuda.tw.mma needs compute capability 8.0 or later, the device has 7.5")) << old;
  const std::string none = selection_error(Pattern::tew, DType::bf16, true, 0);
  EXPECT_TRUE(contains(none, "kernel cuda.tew.mma needs compute capability 8.0 or later, and no usable CUDA device"))
      << none;
}

TEST(TwKernelDispatch, ForcedKernelRunsWhereItFits) {
  EXPECT_EQ(select_kernel(Pattern::tw, Backend::cuda, DType::f16, true, 90, "cuda.tw.mma"), "cuda.tw.mma");
  EXPECT_EQ(select_kernel(Pattern::tew, Backend::cuda, DType::bf16, false, 90, "cuda.tew.mma"), "cuda.tew.mma");
  EXPECT_EQ(select_kernel(Pattern::tw, Backend::cuda, DType::bf16, false, 90, "cuda.tw.wgmma"), "cuda.tw.wgmma");
  EXPECT_TRUE(contains(selection_error(Pattern::tw, DType::f16, false, 80, "cuda.tw.wgmma"),
                       "kernel cuda.tw.wgmma needs compute capability 9.x, the device has 8.0"));
  EXPECT_TRUE(contains(selection_error(Pattern::tw, DType::f16, false, 100, "cuda.tw.wgmma"),
                       "the device has 10.0"));
  EXPECT_TRUE(contains(selection_error(Pattern::tw, DType::f16, false, 90, "cuda.tew.mma"),
                       "kernel cuda.tew.mma runs pattern tew on backend cuda with dtype f16, bf16, not pattern tw"));
  EXPECT_TRUE(contains(selection_error(Pattern::tw, DType::f32, false, 90, "cuda.tw.mma"),
                       "kernel cuda.tw.mma runs pattern tw on backend cuda with dtype f16, bf16, not pattern tw on "
                       "backend cuda with dtype f32"));
  EXPECT_TRUE(contains(selection_error(Pattern::tw, DType::f16, false, 90, "cuda.tw.fast"), "unknown kernel 'cuda.tw.fast'"));
  EXPECT_TRUE(contains(selection_error(Pattern::bw, DType::f16, true, 90, "cuda.cusparse.bsr"),
                       "kernel cuda.cusparse.bsr takes row-major activations only"));
  EXPECT_EQ(kernel_pattern("cuda.tew.mma"), Pattern::tew);
}
#endif

}  // namespace
}  // namespace tilesparse

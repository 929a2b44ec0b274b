// The dispatch table's choice without a device: select_kernel for a given compute
// capability (the TW/TEW tensor-core entries: wgmma on 9.x only, mma.sync on 8.0 and
// later), forced entries, and the reasons it gives when nothing fits.
#include <gtest/gtest.h>

#include "format_test_util.hpp"
#include "tilesparse/core/error.hpp"
#include "tilesparse/ops.hpp"

namespace tilesparse {
namespace {

// Expects select_kernel on the CUDA backend to refuse with a reason containing `needle`.
void expect_refusal(Pattern p, DType dt, bool transposed, int cc, const std::string& forced, const std::string& needle) {
  test::expect_error_mentioning([&] { select_kernel(p, Backend::cuda, dt, transposed, cc, forced); }, needle);
}

TEST(TwKernelDispatch, ReferenceEntriesAndNames) {
  EXPECT_EQ(select_kernel(Pattern::tw, Backend::ref, DType::f16, false, 0), "ref.tw");
  EXPECT_EQ(select_kernel(Pattern::tew, Backend::ref, DType::bf16, false, 0, "ref.tew"), "ref.tew");
  EXPECT_EQ(kernel_pattern("ref.tw"), Pattern::tw);
  EXPECT_EQ(kernel_pattern("ref.24"), Pattern::sp24);
  EXPECT_FALSE(kernel_pattern("cuda.tw.fast").has_value());
  test::expect_error_mentioning([] { select_kernel(Pattern::tw, Backend::ref, DType::f16, false, 0, "ref.tw.fast"); },
                                 "unknown kernel 'ref.tw.fast' (the table has: ref.dense, ");
  test::expect_error_mentioning([] { select_kernel(Pattern::tw, Backend::ref, DType::f16, false, 0, "ref.tew"); },
                                 "kernel ref.tew runs pattern tew on backend ref with dtype any, not pattern tw");
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
  expect_refusal(Pattern::tw, DType::f16, false, 75, "",
                 "kernel cuda.tw.wgmma needs compute capability 9.x, the device has 7.5");
  expect_refusal(Pattern::tw, DType::f16, false, 75, "",
                 "kernel cuda.tw.mma needs compute capability 8.0 or later, the device has 7.5");
  expect_refusal(Pattern::tew, DType::bf16, true, 0, "",
                 "kernel cuda.tew.mma needs compute capability 8.0 or later, and no usable CUDA device");
}

TEST(TwKernelDispatch, ForcedKernelRunsWhereItFits) {
  EXPECT_EQ(select_kernel(Pattern::tw, Backend::cuda, DType::f16, true, 90, "cuda.tw.mma"), "cuda.tw.mma");
  EXPECT_EQ(select_kernel(Pattern::tew, Backend::cuda, DType::bf16, false, 90, "cuda.tew.mma"), "cuda.tew.mma");
  EXPECT_EQ(select_kernel(Pattern::tw, Backend::cuda, DType::bf16, false, 90, "cuda.tw.wgmma"), "cuda.tw.wgmma");
  expect_refusal(Pattern::tw, DType::f16, false, 80, "cuda.tw.wgmma",
                 "kernel cuda.tw.wgmma needs compute capability 9.x, the device has 8.0");
  expect_refusal(Pattern::tw, DType::f16, false, 100, "cuda.tw.wgmma", "the device has 10.0");
  expect_refusal(Pattern::tw, DType::f16, false, 90, "cuda.tew.mma",
                 "kernel cuda.tew.mma runs pattern tew on backend cuda with dtype f16, bf16, not pattern tw");
  expect_refusal(Pattern::tw, DType::f32, false, 90, "cuda.tw.mma",
                 "kernel cuda.tw.mma runs pattern tw on backend cuda with dtype f16, bf16, not pattern tw on "
                 "backend cuda with dtype f32");
  expect_refusal(Pattern::tw, DType::f16, false, 90, "cuda.tw.fast", "unknown kernel 'cuda.tw.fast'");
  expect_refusal(Pattern::bw, DType::f16, true, 90, "cuda.cusparse.bsr",
                 "kernel cuda.cusparse.bsr takes row-major activations only");
  EXPECT_EQ(kernel_pattern("cuda.tew.mma"), Pattern::tew);
}
#endif

}  // namespace
}  // namespace tilesparse

#include "backends/cuda/library.hpp"

#include <limits>

#include "backends/cuda/check.hpp"
#include "tilesparse/core/error.hpp"

namespace tilesparse::cuda {

cudaDataType data_type(DType t) {
  switch (t) {
    case DType::f32: return CUDA_R_32F;
    case DType::f16: return CUDA_R_16F;
    case DType::bf16: return CUDA_R_16BF;
  }
  throw Error("cuda", "unknown dtype");
}

namespace {

struct CublasHandle {
  cublasHandle_t h = nullptr;
  CublasHandle() {
    TS_CHECK(cublasCreate(&h));
    // fp32 stays fp32: no TF32 tensor-core rounding unless a caller asks for it.
    TS_CHECK(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));
  }
  ~CublasHandle() { cublasDestroy(h); }
};

struct CusparseHandle {
  cusparseHandle_t h = nullptr;
  CusparseHandle() { TS_CHECK(cusparseCreate(&h)); }
  ~CusparseHandle() { cusparseDestroy(h); }
};

}  // namespace

cublasHandle_t cublas_handle(const gpu::Stream& stream) {
  thread_local CublasHandle handle;
  TS_CHECK(cublasSetStream(handle.h, native(stream)));
  return handle.h;
}

cusparseHandle_t cusparse_handle(const gpu::Stream& stream) {
  thread_local CusparseHandle handle;
  TS_CHECK(cusparseSetStream(handle.h, native(stream)));
  return handle.h;
}

int as_int(std::int64_t v, const char* what, const char* op) {
  require(v <= std::numeric_limits<int>::max(), op,
          std::string(what) + " = " + std::to_string(v) + " exceeds the library's int32 limit");
  return static_cast<int>(v);
}

}  // namespace tilesparse::cuda

#pragma once
// Shared pieces of the vendor-library paths: per-thread library handles bound to the
// caller's stream, dtype mapping, and the arguments every CUDA kernel entry takes.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusparse.h>

#include "tilesparse/gpu.hpp"

namespace tilesparse::cuda {

inline cudaStream_t native(const gpu::Stream& s) { return static_cast<cudaStream_t>(s.native()); }
cudaDataType data_type(DType t);

// Handles are created once per thread (creation costs milliseconds) and re-bound to the
// stream of each call.
cublasHandle_t cublas_handle(const gpu::Stream& stream);
cusparseHandle_t cusparse_handle(const gpu::Stream& stream);

// Throws Error when a dimension does not fit the int32 a library call takes.
int as_int(std::int64_t v, const char* what, const char* op);

}  // namespace tilesparse::cuda

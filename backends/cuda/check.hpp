#pragma once
// Checked calls into CUDA and its libraries: a failure becomes tilesparse::Error whose op
// is the library, and whose reason names the call, the status and the source line.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusparse.h>

#include <string>

namespace tilesparse::cuda {

[[noreturn]] void fail(const char* library, const char* call, const std::string& status, const char* file, int line);

inline void check(cudaError_t s, const char* call, const char* file, int line) {
  if (s != cudaSuccess) fail("cuda", call, std::string(cudaGetErrorName(s)) + " (" + cudaGetErrorString(s) + ")", file, line);
}
inline void check(cublasStatus_t s, const char* call, const char* file, int line) {
  if (s != CUBLAS_STATUS_SUCCESS) fail("cublas", call, cublasGetStatusString(s), file, line);
}
inline void check(cusparseStatus_t s, const char* call, const char* file, int line) {
  if (s != CUSPARSE_STATUS_SUCCESS) fail("cusparse", call, cusparseGetErrorString(s), file, line);
}

// Reports a failed kernel launch (bad configuration) right where it happened.
inline void check_launch(const char* kernel, const char* file, int line) {
  check(cudaGetLastError(), kernel, file, line);
}

}  // namespace tilesparse::cuda

#define TS_CHECK(call) ::tilesparse::cuda::check((call), #call, __FILE__, __LINE__)
#define TS_CHECK_LAUNCH(kernel) ::tilesparse::cuda::check_launch(kernel, __FILE__, __LINE__)

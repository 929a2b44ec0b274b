#pragma once
// C[M x N] = A[M x K] · W[K x N] (+ bias[N]) -> activation, fp32 accumulation (the CPU
// reference accumulates in double). The one entry point: it looks the (pattern,
// backend, dtype) up in the dispatch table and fails with a reason when no kernel fits.
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "tilesparse/core/matrix.hpp"
#include "tilesparse/formats/weight.hpp"

namespace tilesparse {

enum class Activation : std::uint8_t { none, relu, gelu };
std::string_view to_string(Activation a);
Activation parse_activation(std::string_view name);

enum class Backend : std::uint8_t { ref, cuda };
std::string_view to_string(Backend b);

struct Epilogue {
  std::span<const float> bias;  // empty, or N values
  Activation activation = Activation::none;
};

struct MatmulOptions {
  Epilogue epilogue;
  Backend backend = Backend::ref;
};

// A: M x K, host. C: resized to M x N with A's dtype; every element written.
void matmul(const HostMatrix& a, const Weight& w, HostMatrix& c, const MatmulOptions& options = {});

// Whether the dispatch table holds a kernel for the combination in this build, whatever
// the device: the CUDA matmul also needs the device's compute capability to fit an entry
// (e.g. f16 TW: 8.0 or later) and says so in its error when none does.
bool has_kernel(Pattern pattern, Backend backend, DType dtype);

// The (pattern, backend, dtype) combinations the table holds, with each entry's name and
// device requirement, for --help and errors.
std::vector<std::string> available_kernels();

// The name of the table entry a matmul of (pattern, dtype) on `backend` runs, in the
// transposed activation layout (Aᵀ in, Cᵀ out) or not, on a device of compute capability
// major * 10 + minor (0: no device; CUDA entries that need one then never fit): the first
// entry that fits, or the entry named `forced` when that is not empty. Throws Error
// naming the reason when none fits (unknown name, other pattern or dtype, row-major only,
// device too old or of another generation). gpu::matmul chooses its kernel this way.
std::string select_kernel(Pattern pattern, Backend backend, DType dtype, bool transposed_layout, int compute_capability,
                          const std::string& forced = "");

// The pattern of the table entry of that name (e.g. "cuda.tw.mma": tw), or none.
std::optional<Pattern> kernel_pattern(const std::string& name);

}  // namespace tilesparse

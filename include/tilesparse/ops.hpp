#pragma once
// C[M x N] = A[M x K] · W[K x N] (+ bias[N]) -> activation, fp32 accumulation (the CPU
// reference accumulates in double). The one entry point: it looks the (pattern,
// backend, dtype) up in the dispatch table and fails with a reason when no kernel fits.
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

// Whether the dispatch table holds a kernel for the combination.
bool has_kernel(Pattern pattern, Backend backend, DType dtype);

// The (pattern, backend, dtype) combinations the table holds, for --help and errors.
std::vector<std::string> available_kernels();

}  // namespace tilesparse

#pragma once
// Roofline model of C[M x N] = A[M x K] · W[K x N]: the bytes a matmul must move through
// device memory (each operand read once, the output written once: the traffic of a
// perfectly tiled kernel) and the useful flops it must do, against two ceilings
// measured once on the device. The larger of bytes/bandwidth and flops/peak is the
// floor no kernel beats by much; docs/roofline.md derives the numbers.
#include <cstdint>
#include <optional>
#include <string>

#include "tilesparse/core/dtype.hpp"
#include "tilesparse/formats/pattern.hpp"

namespace tilesparse::perf {

// Measured on one device: a large device-to-device copy (bytes read + written per
// second) and cuBLAS on a large square GEMM per dtype (fp32 without TF32).
struct Ceilings {
  std::string device;
  std::string method;  // how and when they were measured
  double copy_gbps = 0;
  double peak_tflops_f32 = 0, peak_tflops_f16 = 0, peak_tflops_bf16 = 0;

  double peak_tflops(DType t) const;
  // JSON {"device", "method", "copy_gbps", "peak_tflops": {"f32","f16","bf16"}}.
  // load() throws Error naming the file and the missing or non-positive key.
  static Ceilings load(const std::string& path);
  void save(const std::string& path) const;
};

// Bytes through device memory, by operand.
struct Traffic {
  double weight_values = 0;
  double weight_index = 0;  // indices, offsets, metadata
  double activations = 0;   // the rows of A that are read, once
  double outputs = 0;       // C, written once
  double total() const { return weight_values + weight_index + activations + outputs; }
};

struct Cost {
  Traffic bytes;
  double kept = 0;   // stored weight elements (padding of blocks and groups included)
  double flops = 0;  // 2 * M * kept
  double intensity() const { return bytes.total() > 0 ? flops / bytes.total() : 0.0; }
};

// The cost of the pattern's device form at a sparsity (ignored for dense, nm and 24,
// whose pattern fixes it). Index widths are those the GPU paths use: int32 offsets and
// indices for ew/bw/tw/tew (cuSPARSE takes int32), packed 4/8-bit for nm, 2 bits per
// kept value for 24. tw/tew index bytes are an estimate (all N columns kept).
// rows_read: the K rows of A that must be read, nonzero_rows() of the weight (at high
// sparsity a TW weight keeps a fraction of K: 10% of ffn2's rows at 99%); all K when not
// given. Throws Error for a negative dimension, a sparsity outside [0, 1] or rows_read
// outside [0, K].
Cost matmul_cost(const PatternSpec& spec, std::int64_t m, std::int64_t k, std::int64_t n, DType dtype,
                 double sparsity, std::optional<std::int64_t> rows_read = std::nullopt);

struct Bound {
  double memory_us = 0;   // bytes / copy bandwidth
  double compute_us = 0;  // useful flops / cuBLAS dense peak of the dtype
  double us() const { return memory_us > compute_us ? memory_us : compute_us; }
  bool memory_bound() const { return memory_us >= compute_us; }
};
// The useful flops of a 2:4 weight run at the dense peak: the sparse tensor cores do
// half the multiplies at twice the dense-equivalent rate. For ew/bw/tw this compute
// ceiling is optimistic (tensor-core rate): the bound stays a floor.
Bound bound(const Cost& cost, DType dtype, const Ceilings& ceilings);

// Arithmetic intensity (flop/byte) of CSR SpMM from the tiled-SpMM tutorial: mu
// nonzeros per sparse row, each moving its value (bt) and index (bi) and gathering one
// dense element (bt); each row writes one output (bt) and reads delta bytes of offsets:
//   I = 2 mu / ((bt + bi) mu + bt mu + bt + delta)
double csr_intensity(double mu, double bt, double bi, double delta);
// The same with tiling: tile_m dense rows share each nonzero read (weight traffic
// divided by tile_m), and tile_n sparse rows share each staged dense element, so a tile
// gathers the union of their K positions, k (1 - (1 - mu/k)^tile_n), instead of
// tile_n mu. tile_m = tile_n = 1 gives csr_intensity.
double csr_intensity_tiled(double mu, double k, double bt, double bi, double delta, double tile_m, double tile_n);

}  // namespace tilesparse::perf

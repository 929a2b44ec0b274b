#pragma once
// What the sweep (bench_main.cpp) and the layer chain (chain.cpp) share: shapes, random
// inputs, the reference check of a device output in either activation layout, one timed
// measurement, and the JSON row's common fields (DESIGN.md §6).
#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/timing.hpp"
#include "tilesparse/gpu.hpp"
#include "tilesparse/perf/roofline.hpp"

namespace tilesparse::bench {

struct Shape {
  std::string id, suite;
  std::int64_t m, k, n;
};
// Rows of an id,suite,m,k,n,note CSV whose suite and id pass the filters (empty = all).
std::vector<Shape> read_shapes(const std::string& path, const std::vector<std::string>& suites,
                               const std::vector<std::string>& ids);

// Uniform [-1, 1) values, filled by all cores (the largest weights hold 1e8 values).
std::vector<float> random_values(std::int64_t count, std::uint64_t seed);

std::string now_iso();

// DESIGN.md §5: 1e-5 fp32, 2e-3 fp16, 1e-2 bf16.
double tolerance(DType t);

// The CPU reference of some rows of C: all rows when M <= 16, else 8 spread over M.
struct Reference {
  std::vector<std::int64_t> rows;
  HostMatrix want;  // rows.size() x N, in C's dtype
};
std::vector<std::int64_t> sample_rows(std::int64_t m);
HostMatrix gather_rows(const HostMatrix& a, const std::vector<std::int64_t>& rows);
Reference reference(const HostMatrix& a, const Weight& w, const Epilogue& epilogue);

// Largest per-row ||out - ref|| / ||ref|| over the reference rows (NaN if any NaN).
// row_major: row r of C; transposed: column r of Cᵀ. col_map non-null: c holds only
// those output columns, in that order (TW compact output).
double check_output(const gpu::DeviceMatrix& c, gpu::Layout layout, const Reference& ref,
                    const std::vector<std::int32_t>* col_map = nullptr);

// Device matrix for the activation A (M x K) in a layout: A as is, or Aᵀ (K x M).
gpu::DeviceMatrix upload_activation(const HostMatrix& a, gpu::Layout layout);
// An output for M x n columns in a layout: M x n, or n x M.
gpu::DeviceMatrix output_for(std::int64_t m, std::int64_t n, DType dtype, gpu::Layout layout);

struct Context {
  const gpu::Stream* stream = nullptr;  // null with dry_run
  Timer* timer = nullptr;
  int warmup = 5, runs = 50;
  perf::Ceilings ceilings;
  std::string device, commit;
  std::ofstream* out = nullptr;  // JSON lines, when open
  bool dry_run = false;          // build weights and references, touch no device
};

struct Measured {
  double us = 0, err = 0;
  std::string impl;  // gpu::kernel_name
};

// One matmul: poisoned output, first call checked against ref, then timed (the first
// call also builds the vendor libraries' cached forms, so it is never timed).
Measured measure(Context& ctx, const gpu::DeviceWeight& w, const gpu::DeviceMatrix& a, gpu::DeviceMatrix& c,
                 const gpu::DeviceOptions& options, const Reference& ref,
                 const std::vector<std::int32_t>* col_map = nullptr);

// The fields of DESIGN.md §6 every row has; callers add "params" and the rest.
nlohmann::json row_common(const Context& ctx, const std::string& op, const std::string& pattern, DType dtype,
                          std::int64_t m, std::int64_t k, std::int64_t n, double sparsity);
// Fills median_us, baseline, baseline_us, speedup, tflops, gbps, bound_us, pct_of_bound,
// max_rel_err (null for NaN).
void row_timing(nlohmann::json& row, double us, double baseline_us, double flops, double bytes, double bound_us,
                double err);
void write_row(Context& ctx, const nlohmann::json& row);

}  // namespace tilesparse::bench

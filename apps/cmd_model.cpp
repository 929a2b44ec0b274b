// `tilesparse model`: the roofline model of one matmul, C = A · W with W in a pattern:
// bytes by operand, useful flops, intensity, and with measured ceilings the bound time.
#include <cstdio>
#include <iostream>
#include <memory>

#include "apps/commands.hpp"
#include "apps/pattern_options.hpp"
#include "apps/table.hpp"
#include "tilesparse/perf/roofline.hpp"

namespace tilesparse::cli {

namespace {

struct ModelArgs {
  PatternOptions pattern;
  std::int64_t m = 0, k = 0, n = 0;
  std::string dtype = "f16";
  std::string ceilings;
};

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

void run_model(const ModelArgs& args) {
  const PatternSpec spec = args.pattern.spec();
  const DType dt = parse_dtype(args.dtype);
  const perf::Cost cost = perf::matmul_cost(spec, args.m, args.k, args.n, dt, args.pattern.sparsity.value_or(0.0));
  const auto& b = cost.bytes;
  std::cout << spec.describe() << ", " << args.m << " x " << args.k << " x " << args.n << ", " << to_string(dt) << "\n\n";
  Table bytes({"operand", "bytes"});
  bytes.add({"weight values", human_bytes(static_cast<std::size_t>(b.weight_values))});
  bytes.add({"weight index", human_bytes(static_cast<std::size_t>(b.weight_index))});
  bytes.add({"activations (A)", human_bytes(static_cast<std::size_t>(b.activations))});
  bytes.add({"outputs (C)", human_bytes(static_cast<std::size_t>(b.outputs))});
  bytes.add({"total", human_bytes(static_cast<std::size_t>(b.total()))});
  bytes.print(std::cout);
  std::cout << "\nuseful flops " << fixed(cost.flops / 1e9, 3) << " GFLOP, intensity " << fixed(cost.intensity(), 2)
            << " flop/byte\n";
  if (spec.pattern == Pattern::ew && args.k > 0 && args.n > 0) {
    const double mu = cost.kept / static_cast<double>(args.n);  // nonzeros per row of Wᵀ
    const double bt = static_cast<double>(size_of(dt));
    Table tiles({"CSR tile (rows x cols)", "intensity (flop/byte)"});
    for (const auto& [tm, tn] : {std::pair{1.0, 1.0}, {64.0, 1.0}, {64.0, 64.0}, {256.0, 128.0}})
      tiles.add({fixed(tm, 0) + " x " + fixed(tn, 0),
                 fixed(perf::csr_intensity_tiled(mu, static_cast<double>(args.k), bt, 4, 8, tm, tn), 3)});
    std::cout << '\n';
    tiles.print(std::cout);
  }
  if (!args.ceilings.empty()) {
    const auto c = perf::Ceilings::load(args.ceilings);
    const auto bound = perf::bound(cost, dt, c);
    std::cout << "\non " << c.device << ": memory " << fixed(bound.memory_us, 2) << " us, compute "
              << fixed(bound.compute_us, 2) << " us -> bound " << fixed(bound.us(), 2) << " us ("
              << (bound.memory_bound() ? "memory" : "compute") << " bound)\n";
  }
}

}  // namespace

void add_model_command(CLI::App& app) {
  auto args = std::make_shared<ModelArgs>();
  CLI::App* cmd = app.add_subcommand("model", "Roofline model of C = A · W: bytes, flops and the bound time");
  args->pattern.add_to(*cmd);
  cmd->add_option("--rows,-M", args->m, "M: rows of A and C")->required()->check(CLI::NonNegativeNumber);
  cmd->add_option("--reduction,-K", args->k, "K: reduction axis (rows of W)")->required()->check(CLI::NonNegativeNumber);
  cmd->add_option("--outputs,-N", args->n, "N: output features (columns of W)")->required()->check(CLI::NonNegativeNumber);
  cmd->add_option("--dtype", args->dtype, "f32, f16 or bf16")->capture_default_str();
  cmd->add_option("--ceilings", args->ceilings, "Measured ceilings JSON (e.g. bench/device_h100.json) for the bound")
      ->check(CLI::ExistingFile);
  cmd->callback([args] { run_model(*args); });
}

}  // namespace tilesparse::cli

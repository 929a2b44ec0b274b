#include "tilesparse/perf/roofline.hpp"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tilesparse/core/error.hpp"

namespace tilesparse::perf {

double Ceilings::peak_tflops(DType t) const {
  switch (t) {
    case DType::f32: return peak_tflops_f32;
    case DType::f16: return peak_tflops_f16;
    case DType::bf16: return peak_tflops_bf16;
  }
  return 0;
}

Ceilings Ceilings::load(const std::string& path) {
  std::ifstream in(path);
  require(in.good(), "Ceilings::load", "cannot open '" + path + "'");
  nlohmann::json j;
  try {
    in >> j;
  } catch (const nlohmann::json::exception& e) {
    throw Error("Ceilings::load", "'" + path + "' is not valid JSON: " + e.what());
  }
  const auto number = [&](const nlohmann::json& obj, const std::string& key, const std::string& name) {
    require(obj.is_object() && obj.contains(key) && obj.at(key).is_number() && obj.at(key).get<double>() > 0,
            "Ceilings::load", "'" + path + "': missing or non-positive number '" + name + "'");
    return obj.at(key).get<double>();
  };
  Ceilings c;
  c.device = j.value("device", "");
  c.method = j.value("method", "");
  c.copy_gbps = number(j, "copy_gbps", "copy_gbps");
  const nlohmann::json peak = j.contains("peak_tflops") ? j.at("peak_tflops") : nlohmann::json();
  c.peak_tflops_f32 = number(peak, "f32", "peak_tflops.f32");
  c.peak_tflops_f16 = number(peak, "f16", "peak_tflops.f16");
  c.peak_tflops_bf16 = number(peak, "bf16", "peak_tflops.bf16");
  return c;
}

void Ceilings::save(const std::string& path) const {
  const nlohmann::json j = {{"device", device},
                            {"method", method},
                            {"copy_gbps", copy_gbps},
                            {"peak_tflops", {{"f32", peak_tflops_f32}, {"f16", peak_tflops_f16}, {"bf16", peak_tflops_bf16}}}};
  std::ofstream out(path);
  require(out.good(), "Ceilings::save", "cannot write '" + path + "'");
  out << j.dump(2) << '\n';
}

namespace {

double ceil_div(double a, double b) { return std::ceil(a / b); }
constexpr double kIndexBytes = 4;  // int32 indices and offsets on the device

}  // namespace

Cost matmul_cost(const PatternSpec& spec, std::int64_t m, std::int64_t k, std::int64_t n, DType dtype,
                 double sparsity, std::optional<std::int64_t> rows_read) {
  const std::string shapes = "M=" + std::to_string(m) + ", K=" + std::to_string(k) + ", N=" + std::to_string(n);
  require(m >= 0 && k >= 0 && n >= 0, "matmul_cost", "negative dimension", shapes);
  require(sparsity >= 0 && sparsity <= 1, "matmul_cost", "sparsity " + std::to_string(sparsity) + " outside [0, 1]", shapes);
  require(!rows_read || (*rows_read >= 0 && *rows_read <= k), "matmul_cost",
          "rows read " + std::to_string(rows_read.value_or(0)) + " outside [0, K]", shapes);
  spec.check();
  const double es = static_cast<double>(size_of(dtype));
  const double K = static_cast<double>(k), N = static_cast<double>(n), density = 1.0 - sparsity;
  Cost c;
  Traffic& t = c.bytes;
  switch (spec.pattern) {
    case Pattern::dense:
      c.kept = K * N;
      break;
    case Pattern::ew:
      c.kept = std::round(density * K * N);
      t.weight_index = c.kept * kIndexBytes + (N + 1) * kIndexBytes;
      break;
    case Pattern::bw: {
      const double bk = static_cast<double>(spec.bk), bn = static_cast<double>(spec.bn);
      const double blocks = std::round(density * ceil_div(K, bk) * ceil_div(N, bn));
      c.kept = blocks * bk * bn;
      t.weight_index = blocks * kIndexBytes + (ceil_div(N, bn) + 1) * kIndexBytes;
      break;
    }
    case Pattern::nm: {
      const double ur = spec.unit_rows(), uc = spec.unit_cols();
      const double slots = ceil_div(K, spec.group * ur) * spec.keep;
      const double index_bits = spec.group <= 16 ? 4 : 8;
      c.kept = slots * ur * N;
      t.weight_index = slots * std::ceil(ceil_div(N, uc) * index_bits / 8);
      break;
    }
    case Pattern::sp24:
      c.kept = ceil_div(K, 4) * 2 * N;
      t.weight_index = c.kept * 2 / 8;  // 2 bits per kept value
      break;
    case Pattern::tw:
    case Pattern::tew: {
      const double g = static_cast<double>(spec.g);
      c.kept = std::round(density * K * N);
      // column map + kept K rows of each tile (kept/g of them) + two offsets per tile
      const double tw_kept = spec.pattern == Pattern::tew ? std::round((density - spec.delta) * K * N) : c.kept;
      t.weight_index = N * kIndexBytes + std::max(tw_kept, 0.0) / g * kIndexBytes + 2 * ceil_div(N, g) * kIndexBytes;
      if (spec.pattern == Pattern::tew) {
        const double residual = std::round(spec.delta * K * N);
        t.weight_index += residual * kIndexBytes + (N + 1) * kIndexBytes;
      }
      break;
    }
  }
  const double M = static_cast<double>(m);
  t.weight_values = c.kept * es;
  t.activations = M * static_cast<double>(rows_read.value_or(k)) * es;
  t.outputs = M * N * es;
  c.flops = 2 * M * c.kept;
  return c;
}

Bound bound(const Cost& cost, DType dtype, const Ceilings& ceilings) {
  require(ceilings.copy_gbps > 0 && ceilings.peak_tflops(dtype) > 0, "roofline bound",
          "ceilings for " + std::string(to_string(dtype)) + " are not positive (load them from a measured file)");
  Bound b;
  b.memory_us = cost.bytes.total() / (ceilings.copy_gbps * 1e9) * 1e6;
  b.compute_us = cost.flops / (ceilings.peak_tflops(dtype) * 1e12) * 1e6;
  return b;
}

double csr_intensity(double mu, double bt, double bi, double delta) {
  return 2 * mu / ((bt + bi) * mu + bt * mu + bt + delta);
}

double csr_intensity_tiled(double mu, double k, double bt, double bi, double delta, double tile_m, double tile_n) {
  require(mu >= 0 && k >= mu && tile_m >= 1 && tile_n >= 1, "csr_intensity_tiled",
          "need 0 <= mu <= k and tiles >= 1");
  const double gathered = k > 0 ? k * (1 - std::pow(1 - mu / k, tile_n)) : 0;  // distinct K positions of tile_n rows
  const double flops = 2 * mu * tile_m * tile_n;
  const double bytes = tile_n * ((bt + bi) * mu + delta) + tile_m * bt * gathered + bt * tile_m * tile_n;
  return flops / bytes;
}

}  // namespace tilesparse::perf

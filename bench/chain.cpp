#include "bench/chain.hpp"

#include <cstdio>
#include <functional>
#include <string>

#include "tilesparse/core/error.hpp"
#include "tilesparse/prune/project.hpp"

namespace tilesparse::bench {

namespace {

struct Layer {
  std::int64_t k, n;
  Activation activation;
  HostMatrix bias;  // 1 x n, f32
  gpu::DeviceBuffer bias_dev;
  Weight dense, tw;
  gpu::DeviceWeight dense_dev, tw_dev;
};

// The reference rows of the chain's output: each layer's rows rounded to dtype before
// the next, as the device stores them.
Reference chain_reference(const HostMatrix& x, const std::vector<Layer>& layers, bool tw) {
  Reference ref;
  ref.rows = sample_rows(x.rows());
  HostMatrix h = gather_rows(x, ref.rows);
  for (const Layer& l : layers) {
    MatmulOptions opt;
    opt.epilogue = {l.bias.values(), l.activation};
    HostMatrix next;
    matmul(h, tw ? l.tw : l.dense, next, opt);
    h = std::move(next);
  }
  ref.want = std::move(h);
  return ref;
}

std::string dims_str(const std::vector<std::int64_t>& dims) {
  std::string s;
  for (const auto d : dims) s += (s.empty() ? "" : "-") + std::to_string(d);
  return s;
}

}  // namespace

bool run_chain(Context& ctx, const ChainConfig& cfg, DType dt) {
  require(cfg.dims.size() >= 2 && cfg.m > 0, "bench --chain", "need M > 0 and at least two feature sizes");
  const std::string name = "ffn " + dims_str(cfg.dims) + " gelu m=" + std::to_string(cfg.m);
  std::uint64_t seed = 9001;
  const HostMatrix x(cfg.m, cfg.dims.front(), dt, random_values(cfg.m * cfg.dims.front(), seed++));

  PatternSpec spec;
  spec.pattern = Pattern::tw;
  spec.g = cfg.g;
  std::vector<Layer> layers;
  double kept_tw = 0, total = 0, flops_dense = 0, flops_tw = 0, bytes_dense = 0, bytes_tw = 0, bound_dense = 0,
         bound_tw = 0;
  for (std::size_t i = 0; i + 1 < cfg.dims.size(); ++i) {
    Layer l;
    l.k = cfg.dims[i];
    l.n = cfg.dims[i + 1];
    l.activation = i + 2 < cfg.dims.size() ? Activation::gelu : Activation::none;
    l.bias = HostMatrix(1, l.n, DType::f32, random_values(l.n, seed++));
    if (!ctx.dry_run) {
      l.bias_dev = gpu::DeviceBuffer(static_cast<std::size_t>(l.n) * sizeof(float));
      l.bias_dev.upload(l.bias.values().data(), l.bias_dev.bytes());
    }
    const auto values = random_values(l.k * l.n, seed++);
    const HostMatrix w(l.k, l.n, dt, values);
    l.dense = DenseWeight{w};
    l.tw = make_weight(w, project(magnitude_scores(HostMatrix(l.k, l.n, DType::f32, values)), spec, cfg.sparsity), spec);
    if (!ctx.dry_run) {
      l.dense_dev = gpu::DeviceWeight::upload(l.dense);
      l.tw_dev = gpu::DeviceWeight::upload(l.tw);
    }

    const double achieved = sparsity(l.tw);
    kept_tw += static_cast<double>(kept(l.tw));
    total += static_cast<double>(l.k * l.n);
    const auto cd = perf::matmul_cost(PatternSpec{}, cfg.m, l.k, l.n, dt, 0.0);
    const auto ct = perf::matmul_cost(spec, cfg.m, l.k, l.n, dt, achieved, nonzero_rows(l.tw));
    flops_dense += cd.flops;
    flops_tw += ct.flops;
    bytes_dense += cd.bytes.total();
    bytes_tw += ct.bytes.total();
    if (!ctx.dry_run) {
      bound_dense += perf::bound(cd, dt, ctx.ceilings).us();
      bound_tw += perf::bound(ct, dt, ctx.ceilings).us();
    }
    layers.push_back(std::move(l));
  }
  const Reference ref_dense = chain_reference(x, layers, false), ref_tw = chain_reference(x, layers, true);
  const double chain_sparsity = 1.0 - kept_tw / total;

  std::printf("chain %s, %s, TW G=%lld at %.3f (achieved)\n", name.c_str(), std::string(to_string(dt)).c_str(),
              static_cast<long long>(cfg.g), chain_sparsity);
  std::printf("%-34s %10s %10s %8s %10s %7s %10s\n", "variant", "median_us", "cublas_us", "speedup", "bound_us",
              "%bound", "rel_err");
  if (ctx.dry_run) {
    std::printf("(dry run: weights and reference rows built; %zu layouts x 3 variants not measured)\n",
                cfg.layouts.size());
    return true;
  }
  bool all_ok = true;
  double row_major_cublas_us = 0;
  for (const gpu::Layout layout : cfg.layouts) {
    const gpu::DeviceMatrix xd = upload_activation(x, layout);
    std::vector<gpu::DeviceMatrix> outs;
    for (const Layer& l : layers) outs.push_back(output_for(cfg.m, l.n, dt, layout));

    const auto run = [&](bool tw, bool fuse) {
      const gpu::DeviceMatrix* in = &xd;
      for (std::size_t i = 0; i < layers.size(); ++i) {
        gpu::DeviceOptions opt;
        opt.bias = &layers[i].bias_dev;
        opt.activation = layers[i].activation;
        opt.layout = layout;
        opt.fuse_epilogue = fuse;
        if (tw) opt.kernel = cfg.tw_kernel;
        gpu::matmul(*in, tw ? layers[i].tw_dev : layers[i].dense_dev, outs[i], opt, *ctx.stream);
        in = &outs[i];
      }
    };
    // First call (builds cached vendor forms) on poisoned outputs, checked; then timed.
    const auto time_variant = [&](bool tw, bool fuse, double& err) {
      for (auto& o : outs) o.poison(*ctx.stream);
      run(tw, fuse);
      ctx.stream->synchronize();
      err = check_output(outs.back(), layout, tw ? ref_tw : ref_dense);
      return ctx.timer->median_us([&] { run(tw, fuse); }, ctx.warmup, ctx.runs);
    };

    double base_err = 0, base_us = 0;
    try {
      base_us = time_variant(false, true, base_err);
    } catch (const Error& e) {
      std::printf("%-34s skipped: %s\n", ("cublas " + std::string(gpu::to_string(layout))).c_str(), e.what());
      continue;
    }
    if (layout == gpu::Layout::row_major) row_major_cublas_us = base_us;

    struct Variant {
      bool tw, fuse;
    };
    for (const Variant v : {Variant{false, true}, Variant{true, false}, Variant{true, true}}) {
      double err = base_err, us = base_us;
      if (v.tw) {
        try {
          us = time_variant(true, v.fuse, err);
        } catch (const Error& e) {
          std::printf("%-34s skipped: %s\n",
                      ("tw " + std::string(gpu::to_string(layout)) + (v.fuse ? " fused" : " unfused")).c_str(), e.what());
          continue;
        }
      }
      const std::string label = std::string(v.tw ? "tw " : "cublas ") + std::string(gpu::to_string(layout)) +
                                (v.tw ? (v.fuse ? " fused" : " unfused") : "");
      const bool ok = !std::isnan(err) && err <= tolerance(dt);
      all_ok = all_ok && ok;
      nlohmann::json impls = nlohmann::json::array(), shapes = nlohmann::json::array();
      for (const Layer& l : layers) {
        impls.push_back(v.tw ? gpu::kernel_name(l.tw_dev, layout, cfg.tw_kernel) : gpu::kernel_name(l.dense_dev, layout));
        shapes.push_back({{"k", l.k},
                          {"n", l.n},
                          {"activation", to_string(l.activation)},
                          {"sparsity", v.tw ? sparsity(l.tw) : 0.0}});
      }
      nlohmann::json params = {{"kernel", v.tw ? "tw" : "cublas"}, {"layout", gpu::to_string(layout)},
                               {"epilogue", "bias-gelu"},          {"impl", impls},
                               {"layers", shapes},                 {"variant", label}};
      if (v.tw) {
        params["g"] = std::to_string(cfg.g);
        params["fuse_epilogue"] = v.fuse;
      }
      nlohmann::json row = row_common(ctx, "chain", v.tw ? "tw" : "cublas", dt, cfg.m, cfg.dims.front(),
                                      cfg.dims.back(), v.tw ? chain_sparsity : 0.0);
      row["chain"] = name;
      row["params"] = params;
      row_timing(row, us, base_us, v.tw ? flops_tw : flops_dense, v.tw ? bytes_tw : bytes_dense,
                 v.tw ? bound_tw : bound_dense, err);
      // The dense chain as usually run (row-major cuBLAS): what a user of the paper's layout saves end to end.
      if (row_major_cublas_us > 0) row["row_major_cublas_us"] = row_major_cublas_us;
      write_row(ctx, row);
      const double bound = v.tw ? bound_tw : bound_dense;
      std::printf("%-34s %10.2f %10.2f %8.3f %10.2f %6.1f%% %10.2e%s\n", label.c_str(), us, base_us, base_us / us,
                  bound, 100.0 * bound / us, err, ok ? "" : "  FAILED CHECK");
      std::fflush(stdout);
    }
  }
  return all_ok;
}

}  // namespace tilesparse::bench

// tilesparse convert IN OUT --pattern P ...: prune every dense weight of a model to a
// pattern by magnitude (one shot) and save the formats.
#include <cmath>
#include <filesystem>
#include <iostream>
#include <memory>
#include <set>

#include "apps/commands.hpp"
#include "apps/pattern_options.hpp"
#include "apps/table.hpp"
#include "tilesparse/core/error.hpp"
#include "tilesparse/io/model.hpp"
#include "tilesparse/prune/project.hpp"

namespace tilesparse::cli {

namespace {

struct ConvertArgs {
  std::string in, out;
  PatternOptions pattern;
  std::string layout = "out_in";
  std::string dtype;
  std::vector<std::string> only;
};

double magnitude(const HostMatrix& m) {
  double s = 0;
  for (float v : m.values()) s += std::fabs(static_cast<double>(v));
  return s;
}

void run_convert(const ConvertArgs& args) {
  const PatternSpec spec = args.pattern.spec();
  const Layout layout = parse_layout(args.layout);
  const std::set<std::string> only(args.only.begin(), args.only.end());
  Model model = load_model(args.in);

  // Candidates: plain 2-d float tensors (in --layout) and dense weights (already K x N).
  std::map<std::string, HostMatrix> dense;
  for (const auto& [name, t] : model.others)
    if (t.shape.size() == 2 && is_float(t.type) && (only.empty() || only.count(name)))
      dense.emplace(name, weight_matrix(t, layout, name));
  for (const auto& [name, w] : model.weights) {
    if (!only.empty() && !only.count(name)) continue;
    if (const auto* d = std::get_if<DenseWeight>(&w)) dense.emplace(name, d->w);
    else std::cout << "skipping " << name << ": already " << spec_of(w).describe() << "\n";
  }
  for (const auto& name : only)
    require(dense.count(name) || model.weights.count(name), "convert",
            "--only names '" + name + "', which is not a 2-d weight of " + args.in);
  require(!dense.empty(), "convert", "no dense 2-d float weight to convert in " + args.in);

  std::cout << "pattern " << spec.describe() << ", layout " << args.layout
            << (layout == Layout::out_in ? " (PyTorch [out, in], transposed to K x N)" : " (K x N as stored)") << "\n\n";
  Table table({"weight", "K x N", "target", "achieved", "kept |w|", "bytes", "dense bytes"});
  std::size_t total = 0, dense_total = 0;
  for (auto& [name, w] : dense) {
    HostMatrix src = args.dtype.empty() ? w : w.as(parse_dtype(args.dtype));
    Weight pruned = [&] {
      try {
        return prune_magnitude(src, spec, args.pattern.sparsity);
      } catch (const Error& e) {
        throw Error("convert " + name, e.what());
      }
    }();
    const double kept_mag = magnitude(to_dense(pruned)) / std::max(magnitude(src), 1e-300);
    const std::size_t b = bytes(pruned), db = static_cast<std::size_t>(src.size()) * size_of(src.dtype());
    total += b;
    dense_total += db;
    const std::string target = args.pattern.sparsity ? percent(*args.pattern.sparsity) : "(pattern)";
    table.add({name, std::to_string(src.rows()) + " x " + std::to_string(src.cols()), target, percent(sparsity(pruned)),
               percent(kept_mag, 1), human_bytes(b), human_bytes(db)});
    model.others.erase(name);
    model.weights.insert_or_assign(name, std::move(pruned));
  }
  table.print(std::cout);
  save_model(args.out, model);
  std::cout << "\nwrote " << args.out << ": " << dense.size() << " weight(s) as " << spec.describe() << ", "
            << human_bytes(total) << " instead of " << human_bytes(dense_total) << " dense\n";
}

}  // namespace

void add_convert_command(CLI::App& app) {
  auto args = std::make_shared<ConvertArgs>();
  CLI::App* cmd = app.add_subcommand("convert", "Prune the dense weights of a model to a pattern by magnitude and save them");
  cmd->add_option("in", args->in, "Input .safetensors")->required()->check(CLI::ExistingFile);
  cmd->add_option("out", args->out, "Output .safetensors (written atomically)")->required();
  args->pattern.add_to(*cmd);
  cmd->add_option("--layout", args->layout,
                  "Orientation of plain 2-d tensors: out_in (PyTorch Linear [out, in]) or in_out (K x N)")
      ->capture_default_str();
  cmd->add_option("--dtype", args->dtype, "Convert values to f32, f16 or bf16 (default: keep)");
  cmd->add_option("--only", args->only, "Convert only these tensors");
  cmd->callback([args] { run_convert(*args); });
}

}  // namespace tilesparse::cli

// tilesparse inspect FILE [--check]: what a weight file holds, and with --check whether
// every weight is valid (structure and pattern, validate()) and holds only finite values.
#include <cmath>
#include <filesystem>
#include <iostream>
#include <memory>

#include "apps/commands.hpp"
#include "apps/table.hpp"
#include "tilesparse/core/error.hpp"
#include "tilesparse/io/model.hpp"
#include "tilesparse/io/npy.hpp"

namespace tilesparse::cli {

namespace {

struct InspectArgs {
  std::string file;
  bool check = false;
};

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += 'x';
    s += std::to_string(shape[i]);
  }
  return shape.empty() ? "scalar" : s;
}

// Empty when the weight passes every check, else the first problem.
std::string check_weight(const Weight& w) {
  if (Validation v = validate(w); !v.ok()) return v.problem;
  const HostMatrix dense = to_dense(w);
  auto values = dense.values();
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      return "value at (" + std::to_string(i / dense.cols()) + ", " + std::to_string(i % dense.cols()) +
             ") is not finite";
    }
  }
  return {};
}

int run_inspect(const InspectArgs& args) {
  const std::filesystem::path path(args.file);
  if (path.extension() == ".npy") {
    const Tensor t = read_npy(path);
    Table table({"tensor", "dtype", "shape", "bytes"});
    table.add({path.filename().string(), std::string(to_string(t.type)), shape_text(t.shape), human_bytes(t.bytes.size())});
    table.print(std::cout);
    return 0;
  }
  const Model model = load_model(path);
  std::size_t total = 0, dense_total = 0;
  std::cout << path.string() << ": " << model.weights.size() << " weight(s), " << model.others.size()
            << " other tensor(s)\n\n";
  int invalid = 0;
  if (!model.weights.empty()) {
    std::vector<std::string> header{"weight", "pattern", "K x N", "dtype", "sparsity", "bytes", "dense bytes"};
    if (args.check) header.push_back("check");
    Table table(header);
    for (const auto& [name, w] : model.weights) {
      const std::size_t b = bytes(w);
      const std::size_t db = static_cast<std::size_t>(k_of(w) * n_of(w)) * size_of(dtype_of(w));
      total += b;
      dense_total += db;
      std::vector<std::string> row{name,
                                   spec_of(w).describe(),
                                   std::to_string(k_of(w)) + " x " + std::to_string(n_of(w)),
                                   std::string(to_string(dtype_of(w))),
                                   percent(sparsity(w)),
                                   human_bytes(b),
                                   human_bytes(db)};
      if (args.check) {
        const std::string problem = check_weight(w);
        invalid += !problem.empty();
        row.push_back(problem.empty() ? "valid" : "INVALID: " + problem);
      }
      table.add(std::move(row));
    }
    table.print(std::cout);
    std::cout << "\nweights: " << human_bytes(total) << " stored, " << human_bytes(dense_total) << " dense";
    if (dense_total) std::cout << " (" << percent(static_cast<double>(total) / static_cast<double>(dense_total), 1) << ")";
    std::cout << "\n";
  }
  if (!model.others.empty()) {
    std::cout << '\n';
    Table table({"tensor", "dtype", "shape", "bytes"});
    for (const auto& [name, t] : model.others)
      table.add({name, std::string(to_string(t.type)), shape_text(t.shape), human_bytes(t.bytes.size())});
    table.print(std::cout);
  }
  if (args.check) {
    if (invalid) {
      std::cerr << "error: " << invalid << " weight(s) failed the check\n";
      return 1;
    }
    std::cout << "\ncheck: all " << model.weights.size() << " weight(s) valid\n";
  }
  return 0;
}

}  // namespace

void add_inspect_command(CLI::App& app) {
  auto args = std::make_shared<InspectArgs>();
  CLI::App* cmd = app.add_subcommand("inspect", "List the tensors of a .safetensors or .npy file: pattern, shape, "
                                                "dtype, sparsity, bytes");
  cmd->add_option("file", args->file, "Weight file (.safetensors or .npy)")->required()->check(CLI::ExistingFile);
  cmd->add_flag("--check", args->check,
                "Validate every weight (structure, pattern, finite values); exit 1 if any fails");
  cmd->callback([args] {
    if (int rc = run_inspect(*args); rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace tilesparse::cli

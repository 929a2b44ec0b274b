// tilesparse generate OUT: a random dense model file to try the other commands on.
#include <cmath>
#include <iostream>
#include <memory>
#include <sstream>

#include "apps/commands.hpp"
#include "tilesparse/core/error.hpp"
#include "tilesparse/io/model.hpp"

namespace tilesparse::cli {

namespace {

struct GenerateArgs {
  std::string out;
  std::vector<std::string> layers{"1024x1024"};
  std::string dtype = "f32";
  std::uint64_t seed = 1;
};

// "INxOUT" -> (in, out).
std::pair<std::int64_t, std::int64_t> parse_layer(const std::string& text) {
  std::int64_t in = 0, out = 0;
  char x = 0;
  std::istringstream is(text);
  require(static_cast<bool>(is >> in >> x >> out) && x == 'x' && is.peek() == EOF && in > 0 && out > 0,
          "generate", "layer '" + text + "' is not IN x OUT (e.g. 1024x1024)");
  return {in, out};
}

void run_generate(const GenerateArgs& args) {
  const DType dt = parse_dtype(args.dtype);
  Model model;
  std::uint64_t seed = args.seed;
  for (std::size_t i = 0; i < args.layers.size(); ++i) {
    const auto [in, out] = parse_layer(args.layers[i]);
    // PyTorch Linear layout [out, in], uniform in +-1/sqrt(in) like its default init.
    HostMatrix w = HostMatrix::random(out, in, DType::f32, seed++);
    const float scale = 1.0f / std::sqrt(static_cast<float>(in));
    for (auto& v : w.mutable_values()) v *= scale;
    HostMatrix bias = HostMatrix::random(1, out, DType::f32, seed++);
    for (auto& v : bias.mutable_values()) v *= scale;
    const std::string name = "layers." + std::to_string(i);
    model.others[name + ".weight"] = to_tensor(w.as(dt));
    Tensor b = to_tensor(bias.as(dt));
    b.shape = {out};
    model.others[name + ".bias"] = std::move(b);
  }
  model.metadata["generated_by"] = "tilesparse generate";
  model.metadata["layout"] = "out_in";
  save_model(args.out, model);
  std::cout << "wrote " << args.out << ": " << args.layers.size() << " random Linear layer(s) in PyTorch layout [out, in], "
            << to_string(dt) << ", seed " << args.seed << "\n";
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto args = std::make_shared<GenerateArgs>();
  CLI::App* cmd = app.add_subcommand("generate", "Write a random dense model (.safetensors, PyTorch [out, in] layout)");
  cmd->add_option("out", args->out, "Output .safetensors file")->required();
  cmd->add_option("--layers", args->layers, "Layer shapes IN x OUT, e.g. 1024x1024 1024x4096")->capture_default_str();
  cmd->add_option("--dtype", args->dtype, "f32, f16 or bf16")->capture_default_str();
  cmd->add_option("--seed", args->seed, "Random seed")->capture_default_str();
  cmd->callback([args] { run_generate(*args); });
}

}  // namespace tilesparse::cli

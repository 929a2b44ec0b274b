#pragma once
// A model file: safetensors whose sparse weights are stored as their format arrays
// ("<layer>/<array>", e.g. "fc1.weight/row_ptr") and described in __metadata__ under
// "tilesparse.<layer>" as a JSON object of the format's meta (pattern, k, n, dtype,
// parameters). Weights are always K x N (in_out). Tensors that belong to no weight
// (biases, plain dense tensors of a PyTorch checkpoint) are kept as they are.
#include <filesystem>
#include <map>
#include <string>

#include "tilesparse/formats/weight.hpp"
#include "tilesparse/io/safetensors.hpp"

namespace tilesparse {

struct Model {
  std::map<std::string, Weight> weights;
  std::map<std::string, Tensor> others;
  std::map<std::string, std::string> metadata;  // user metadata, passed through
  friend bool operator==(const Model&, const Model&) = default;
};

// Throws Error when a described weight's arrays are missing, malformed or do not validate.
Model model_from_safetensors(const SafetensorsFile& file);
SafetensorsFile model_to_safetensors(const Model& model);
Model load_model(const std::filesystem::path& path);
void save_model(const std::filesystem::path& path, const Model& model);  // atomic

// Weight layout of plain tensors: PyTorch Linear stores [out, in] = Wᵀ.
enum class Layout : std::uint8_t { out_in, in_out };
Layout parse_layout(std::string_view name);
// A plain 2-d float tensor as a K x N weight matrix under `layout`.
HostMatrix weight_matrix(const Tensor& t, Layout layout, std::string_view name);

}  // namespace tilesparse

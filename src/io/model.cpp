#include "tilesparse/io/model.hpp"

#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "tilesparse/io/file.hpp"

namespace tilesparse {

namespace {

using nlohmann::json;

constexpr std::string_view kPrefix = "tilesparse.";
constexpr std::string_view kVersionKey = "tilesparse.format_version";
constexpr std::string_view kVersion = "1";
// Every format stores its kept values in an array named "values", so a tensor "L/values"
// is a weight's array even when the metadata describing L has been lost.
constexpr std::string_view kValuesArray = "values";

// "enc/fc1.weight/row_ptr" -> {"enc/fc1.weight", "row_ptr"}: array names never hold '/',
// layer names may.
std::optional<std::pair<std::string, std::string>> split_array_name(const std::string& tensor) {
  const auto slash = tensor.rfind('/');
  if (slash == std::string::npos) return std::nullopt;
  return std::pair{tensor.substr(0, slash), tensor.substr(slash + 1)};
}

std::map<std::string, std::string> parse_weight_meta(const std::string& layer, const std::string& text,
                                                     const std::string& where) {
  const std::string problem = where + "weight '" + layer + "': metadata '" + std::string(kPrefix) + layer +
                              "' is not a JSON object of strings";
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw Error("model_from_safetensors", problem + " (" + e.what() + ")");
  }
  require(j.is_object(), "model_from_safetensors", problem);
  std::map<std::string, std::string> meta;
  for (const auto& [key, value] : j.items()) {
    require(value.is_string(), "model_from_safetensors", problem + " (key '" + key + "')");
    meta.emplace(key, value.get<std::string>());
  }
  return meta;
}

// Takes the file by value so load_model can hand over its tensors without a copy.
// `where` ("'path': " or empty) prefixes every message.
Model model_from(SafetensorsFile file, const std::string& where) {
  const char* op = "model_from_safetensors";
  Model model;
  std::map<std::string, FormatArrays> described;
  for (auto& [key, value] : file.metadata) {
    if (!key.starts_with(kPrefix)) {
      model.metadata.emplace(key, std::move(value));
    } else if (key == kVersionKey) {
      require(value == kVersion, op,
              where + "unsupported " + key + " '" + value + "' (this build reads '" + std::string(kVersion) + "')");
    } else {
      const std::string layer = key.substr(kPrefix.size());
      described[layer].meta = parse_weight_meta(layer, value, where);
    }
  }
  for (auto& [name, tensor] : file.tensors) {
    if (const auto split = split_array_name(name)) {
      const auto& [layer, array] = *split;
      if (const auto it = described.find(layer); it != described.end()) {
        it->second.arrays.emplace(array, std::move(tensor));
        continue;
      }
      require(array != kValuesArray, op,
              where + "tensor '" + name + "' looks like the values of weight '" + layer + "', but metadata '" +
                  std::string(kPrefix) + layer + "' describing that weight is missing");
    }
    model.others.emplace(name, std::move(tensor));
  }
  for (const auto& [layer, arrays] : described) {
    try {
      model.weights.emplace(layer, weight_from_arrays(arrays));
    } catch (const Error& e) {
      throw Error(op, where + "weight '" + layer + "': " + e.what());
    }
  }
  return model;
}

}  // namespace

Model model_from_safetensors(const SafetensorsFile& file) { return model_from(file, ""); }

SafetensorsFile model_to_safetensors(const Model& model) {
  const char* op = "model_to_safetensors";
  SafetensorsFile file;
  for (const auto& [key, value] : model.metadata) {
    require(!key.starts_with(kPrefix), op,
            "user metadata key '" + key + "' uses the reserved prefix '" + std::string(kPrefix) + "'");
    file.metadata.emplace(key, value);
  }
  file.metadata.emplace(kVersionKey, kVersion);
  // Refuse what would read back differently: a plain tensor that a weight would claim,
  // or one that would look like an undescribed weight's values.
  for (const auto& [name, tensor] : model.others) {
    if (const auto split = split_array_name(name)) {
      require(!model.weights.contains(split->first), op,
              "tensor '" + name + "' would be read back as an array of weight '" + split->first + "'");
      require(split->second != kValuesArray, op,
              "tensor '" + name + "' would be read back as the values of a weight '" + split->first +
                  "' without metadata; rename it");
    }
    file.tensors.emplace(name, tensor);
  }
  for (const auto& [layer, weight] : model.weights) {
    require(std::string(kPrefix) + layer != kVersionKey, op, "a weight may not be named 'format_version'");
    FormatArrays fa = to_arrays(weight);
    for (auto& [array, tensor] : fa.arrays) {
      const std::string name = layer + "/" + array;
      require(file.tensors.emplace(name, std::move(tensor)).second, op,
              "weight '" + layer + "': tensor name '" + name + "' is already taken by another weight");
    }
    try {
      file.metadata.emplace(std::string(kPrefix) + layer, json(fa.meta).dump());
    } catch (const json::exception& e) {
      throw Error(op, "weight '" + layer + "': metadata is not valid UTF-8 (" + e.what() + ")");
    }
  }
  return file;
}

Model load_model(const std::filesystem::path& path) {
  // Appended, not "'" + path.string(): GCC 12 reports a false -Wrestrict for that form.
  std::string where(1, '\'');
  where += path.string();
  where += "': ";
  return model_from(read_safetensors(path), where);
}

void save_model(const std::filesystem::path& path, const Model& model) {
  write_safetensors(path, model_to_safetensors(model));
}

Layout parse_layout(std::string_view name) {
  if (name == "out_in") return Layout::out_in;
  if (name == "in_out") return Layout::in_out;
  throw Error("parse_layout", "unknown layout '" + std::string(name) + "' (expected out_in or in_out)");
}

HostMatrix weight_matrix(const Tensor& t, Layout layout, std::string_view name) {
  HostMatrix m = to_matrix(t, "tensor '" + std::string(name) + "'");
  return layout == Layout::out_in ? m.transposed() : m;
}

}  // namespace tilesparse

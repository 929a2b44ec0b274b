#pragma once
// safetensors (https://github.com/huggingface/safetensors format): 8-byte little-endian
// header length, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__":
// {str: str}}, then the data. Reading checks every claim of the header against the
// bytes actually present and throws Error naming the file and the problem.
#include <cstddef>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "tilesparse/core/tensor.hpp"

namespace tilesparse {

struct SafetensorsFile {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> metadata;
  friend bool operator==(const SafetensorsFile&, const SafetensorsFile&) = default;
};

// Header larger than this is rejected before it is read (the reference reader's limit).
inline constexpr std::uint64_t kMaxSafetensorsHeader = 100u * 1024u * 1024u;

SafetensorsFile parse_safetensors(std::span<const std::byte> bytes, const std::string& source = "<memory>");
std::vector<std::byte> serialize_safetensors(const SafetensorsFile& file);

SafetensorsFile read_safetensors(const std::filesystem::path& path);
// Atomic: writes a temporary file beside `path`, then renames it over `path`.
void write_safetensors(const std::filesystem::path& path, const SafetensorsFile& file);

}  // namespace tilesparse

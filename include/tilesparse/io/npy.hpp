#pragma once
// NumPy .npy (format versions 1.0-3.0), C order, little-endian. Fortran order, object
// arrays and big-endian data are rejected with an Error naming the file.
#include <filesystem>
#include <span>
#include <vector>

#include "tilesparse/core/tensor.hpp"

namespace tilesparse {

// numpy has no bfloat16: BF16 tensors are written as '<u2' raw bits and read back as U16.
Tensor parse_npy(std::span<const std::byte> bytes, const std::string& source = "<memory>");
std::vector<std::byte> serialize_npy(const Tensor& t);
Tensor read_npy(const std::filesystem::path& path);
void write_npy(const std::filesystem::path& path, const Tensor& t);  // atomic

}  // namespace tilesparse

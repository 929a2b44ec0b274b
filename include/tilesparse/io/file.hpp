#pragma once
#include <cstddef>
#include <filesystem>
#include <span>
#include <vector>

namespace tilesparse {

// Whole file; Error naming the path when it cannot be opened or read.
std::vector<std::byte> read_file(const std::filesystem::path& path);
// Writes `path.tmp-<random>` beside path, flushes, renames over path; on any failure the
// temporary is removed and `path` is left as it was.
void write_file_atomic(const std::filesystem::path& path, std::span<const std::byte> bytes);

}  // namespace tilesparse

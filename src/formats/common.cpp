#include "tilesparse/formats/common.hpp"

#include <charconv>

namespace tilesparse {

const Tensor& array_at(const FormatArrays& fa, const std::string& name) {
  auto it = fa.arrays.find(name);
  require(it != fa.arrays.end(), "from_arrays", "missing array '" + name + "'");
  return it->second;
}

const std::string& meta_at(const FormatArrays& fa, const std::string& key) {
  auto it = fa.meta.find(key);
  require(it != fa.meta.end(), "from_arrays", "missing metadata key '" + key + "'");
  return it->second;
}

std::int64_t meta_int(const FormatArrays& fa, const std::string& key) {
  const std::string& text = meta_at(fa, key);
  std::int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  require(ec == std::errc() && ptr == end && value >= 0, "from_arrays",
          "metadata '" + key + "' = '" + text + "' is not a non-negative integer");
  return value;
}

}  // namespace tilesparse

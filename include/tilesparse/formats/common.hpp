#pragma once
// What every weight format shares: the result of validate(), and the serialized form
// (named arrays + string metadata) that io/ writes into safetensors.
#include <cstdint>
#include <map>
#include <string>

#include "tilesparse/core/tensor.hpp"

namespace tilesparse {

// Outcome of a check; `problem` names the first offending group/tile/index when not ok.
struct Validation {
  std::string problem;
  bool ok() const noexcept { return problem.empty(); }
  explicit operator bool() const noexcept { return ok(); }
  static Validation fail(std::string why) { return Validation{std::move(why)}; }
};

// A format's stable serialized form. Array names are short ("values", "row_ptr");
// io/ prefixes them with the layer name. meta holds "pattern", "k", "n", "dtype" and
// the pattern's parameters, all as strings.
struct FormatArrays {
  std::map<std::string, Tensor> arrays;
  std::map<std::string, std::string> meta;
};

// Helpers for from_arrays(): fetch an array/meta entry or throw Error naming it.
const Tensor& array_at(const FormatArrays& fa, const std::string& name);
const std::string& meta_at(const FormatArrays& fa, const std::string& key);
std::int64_t meta_int(const FormatArrays& fa, const std::string& key);

}  // namespace tilesparse

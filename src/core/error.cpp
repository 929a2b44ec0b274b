#include "tilesparse/core/error.hpp"

#include <sstream>

namespace tilesparse {

namespace {
std::string compose(const std::string& op, const std::string& reason, const std::string& shapes) {
  std::string msg = op + ": " + reason;
  if (!shapes.empty()) msg += " (" + shapes + ")";
  return msg;
}
}  // namespace

Error::Error(std::string op, std::string reason, std::string shapes)
    : std::runtime_error(compose(op, reason, shapes)),
      op_(std::move(op)),
      reason_(std::move(reason)),
      shapes_(std::move(shapes)) {}

std::string shape_str(std::span<const std::int64_t> dims) {
  std::string s = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (i) s += 'x';
    s += std::to_string(dims[i]);
  }
  return s + "]";
}

}  // namespace tilesparse

#include "backends/cuda/check.hpp"

#include "tilesparse/core/error.hpp"

namespace tilesparse::cuda {

void fail(const char* library, const char* call, const std::string& status, const char* file, int line) {
  std::string where = file;
  const auto slash = where.find("backends/");
  if (slash != std::string::npos) where = where.substr(slash);
  throw Error(library, std::string(call) + " failed: " + status + " at " + where + ":" + std::to_string(line));
}

}  // namespace tilesparse::cuda

#pragma once
// Errors carry the operation that failed, the shapes involved and the reason, so a
// message read out of context (a CLI exit, a test log) still says what went wrong.
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <span>
#include <string>
#include <string_view>

namespace tilesparse {

class Error : public std::runtime_error {
 public:
  Error(std::string op, std::string reason, std::string shapes = {});
  const std::string& op() const noexcept { return op_; }
  const std::string& reason() const noexcept { return reason_; }
  const std::string& shapes() const noexcept { return shapes_; }

 private:
  std::string op_;
  std::string reason_;
  std::string shapes_;
};

// "[7x96]"-style rendering of a shape for messages ("[]" for a scalar).
std::string shape_str(std::span<const std::int64_t> dims);
inline std::string shape_str(std::initializer_list<std::int64_t> dims) {
  return shape_str(std::span<const std::int64_t>(dims.begin(), dims.size()));
}

// Throws Error(op, reason, shapes) when cond is false.
inline void require(bool cond, std::string_view op, const std::string& reason,
                    const std::string& shapes = {}) {
  if (!cond) throw Error(std::string(op), reason, shapes);
}

}  // namespace tilesparse

#pragma once
// Checks shared by the file readers and writers: messages that name the file, and size
// arithmetic on shapes from untrusted headers (every product checked before it is formed).
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include "tilesparse/core/tensor.hpp"

namespace tilesparse::io_detail {

// Throws Error(op, "'<source>': <problem>"), so every reader message names the file.
class Reject {
 public:
  Reject(std::string op, const std::string& source) : op_(std::move(op)), source_(source) {}
  [[noreturn]] void operator()(const std::string& problem) const { throw Error(op_, "'" + source_ + "': " + problem); }
  void unless(bool ok, const std::string& problem) const {
    if (!ok) (*this)(problem);
  }

 private:
  std::string op_;
  const std::string& source_;
};

// Bytes of a tensor of `shape` with elements of `elem_size` bytes; nullopt when a
// dimension is negative or the product does not fit in int64.
inline std::optional<std::int64_t> checked_nbytes(std::span<const std::int64_t> shape, std::size_t elem_size) {
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  // An empty dimension makes the tensor empty whatever the others are, so it is found
  // before any product is formed.
  for (const std::int64_t d : shape)
    if (d < 0) return std::nullopt;
  for (const std::int64_t d : shape)
    if (d == 0) return 0;
  std::int64_t n = static_cast<std::int64_t>(elem_size);
  for (const std::int64_t d : shape) {
    if (n > kMax / d) return std::nullopt;
    n *= d;
  }
  return n;
}

// A writer never produces a file its reader would reject: the tensor's bytes must
// match its shape and element type.
inline void require_consistent(const Tensor& t, std::string_view op, const std::string& what) {
  const auto need = checked_nbytes(t.shape, size_of(t.type));
  require(need.has_value(), op, what + ": shape " + shape_str(t.shape) + " is negative or overflows");
  require(static_cast<std::uint64_t>(*need) == t.bytes.size(), op,
          what + ": holds " + std::to_string(t.bytes.size()) + " bytes but " + std::string(to_string(t.type)) + " " +
              shape_str(t.shape) + " needs " + std::to_string(*need));
}

}  // namespace tilesparse::io_detail

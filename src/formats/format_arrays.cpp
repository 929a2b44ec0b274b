#include "src/formats/format_arrays.hpp"

#include <charconv>

#include "tilesparse/core/error.hpp"

namespace tilesparse::detail {

namespace {

constexpr const char* kOp = "from_arrays";

// Element count of a shape read from a file, or -1 when a dimension is negative or the
// product overflows.
std::int64_t safe_numel(const std::vector<std::int64_t>& shape) {
  std::int64_t n = 1;
  for (auto d : shape) {
    if (d < 0 || __builtin_mul_overflow(n, d, &n)) return -1;
  }
  return n;
}

const Tensor& typed_array(const FormatArrays& fa, const std::string& name, ElemType type) {
  const Tensor& t = array_at(fa, name);
  require(t.type == type, kOp,
          "array '" + name + "' has element type " + std::string(to_string(t.type)) + ", expected " +
              std::string(to_string(type)));
  const std::int64_t numel = safe_numel(t.shape);
  require(numel >= 0, kOp, "array '" + name + "' has an invalid shape " + shape_str(t.shape));
  std::int64_t nbytes = 0;
  require(!__builtin_mul_overflow(numel, static_cast<std::int64_t>(size_of(type)), &nbytes) &&
              static_cast<std::int64_t>(t.bytes.size()) == nbytes,
          kOp,
          "array '" + name + "' holds " + std::to_string(t.bytes.size()) + " bytes, its shape " +
              shape_str(t.shape) + " needs " + std::to_string(numel) + " x " + std::to_string(size_of(type)));
  return t;
}

}  // namespace

FormatArrays make_format_arrays(Pattern pattern, std::int64_t k, std::int64_t n, DType dtype) {
  FormatArrays fa;
  fa.meta["pattern"] = std::string(to_string(pattern));
  fa.meta["k"] = std::to_string(k);
  fa.meta["n"] = std::to_string(n);
  fa.meta["dtype"] = std::string(to_string(dtype));
  return fa;
}

std::int64_t meta_int_at_most(const FormatArrays& fa, const std::string& key, std::int64_t max) {
  const std::int64_t v = meta_int(fa, key);
  require(v <= max, kOp, "metadata '" + key + "' = " + std::to_string(v) + " exceeds " + std::to_string(max));
  return v;
}

void put_meta_share(FormatArrays& fa, const std::string& key, double share) {
  if (share < 0) return;
  char text[32];
  const auto [end, ec] = std::to_chars(text, text + sizeof text, share);
  fa.meta[key] = std::string(text, ec == std::errc() ? end : text);
}

double meta_share(const FormatArrays& fa, const std::string& key) {
  const auto found = fa.meta.find(key);
  if (found == fa.meta.end()) return -1;
  const std::string& text = found->second;
  double v = -1;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  require(ec == std::errc() && ptr == text.data() + text.size() && v >= 0 && v <= 1, kOp,
          "metadata '" + key + "' = '" + text + "' is not a number in [0, 1]");
  return v;
}

ArraysHeader read_header(const FormatArrays& fa, Pattern expected) {
  // A copy, not a reference: GCC 13 flags a reference returned by a call that received a
  // temporary (the key) as possibly dangling (-Wdangling-reference).
  const std::string p = meta_at(fa, "pattern");
  require(p == to_string(expected), kOp,
          "metadata 'pattern' = '" + p + "', expected '" + std::string(to_string(expected)) + "'");
  ArraysHeader h;
  h.k = meta_int_at_most(fa, "k", kMaxDim);
  h.n = meta_int_at_most(fa, "n", kMaxDim);
  h.dtype = parse_dtype(meta_at(fa, "dtype"));
  return h;
}

Tensor values_tensor(const std::vector<float>& values, DType dtype, std::vector<std::int64_t> shape) {
  const auto count = static_cast<std::int64_t>(values.size());
  Tensor t = to_tensor(HostMatrix(1, count, dtype, values));
  t.shape = std::move(shape);
  require(t.numel() == count, "to_arrays", "values do not fill shape " + shape_str(t.shape));
  return t;
}

const Tensor& checked_array(const FormatArrays& fa, const std::string& name, ElemType type,
                            const std::vector<std::int64_t>& shape) {
  const Tensor& t = typed_array(fa, name, type);
  require(t.shape == shape, kOp,
          "array '" + name + "' has shape " + shape_str(t.shape) + ", expected " + shape_str(shape));
  return t;
}

const Tensor& checked_array_1d(const FormatArrays& fa, const std::string& name, ElemType type) {
  const Tensor& t = typed_array(fa, name, type);
  require(t.shape.size() == 1, kOp,
          "array '" + name + "' has shape " + shape_str(t.shape) + ", expected a 1-d array");
  return t;
}

std::vector<float> read_values(const FormatArrays& fa, const std::string& name, DType dtype,
                               const std::vector<std::int64_t>& shape) {
  Tensor flat = checked_array(fa, name, elem_type_of(dtype), shape);
  flat.shape = {1, flat.numel()};
  HostMatrix m = to_matrix(flat, name);
  return {m.values().begin(), m.values().end()};
}

}  // namespace tilesparse::detail

#pragma once
// Building and reading the serialized form (FormatArrays) of a format. from_arrays()
// receives untrusted data: every reader here checks the element type, rank and shape of
// an array against what the metadata implies before a byte is interpreted.
#include <cstdint>
#include <string>
#include <vector>

#include "tilesparse/core/dtype.hpp"
#include "tilesparse/formats/common.hpp"
#include "tilesparse/formats/pattern.hpp"

namespace tilesparse::detail {

// Largest K or N a stored weight may declare: K indices are int32 in several formats,
// and the bound keeps every size computed from metadata far from int64 overflow.
inline constexpr std::int64_t kMaxDim = 2147483647;

// meta "pattern", "k", "n", "dtype" filled in; arrays empty.
FormatArrays make_format_arrays(Pattern pattern, std::int64_t k, std::int64_t n, DType dtype);

struct ArraysHeader {
  std::int64_t k = 0, n = 0;
  DType dtype = DType::f32;
};
// Checks that meta "pattern" names `expected` and that k, n are in [0, kMaxDim].
ArraysHeader read_header(const FormatArrays& fa, Pattern expected);
// meta_int(key) also bounded above by `max` (Error naming key otherwise).
std::int64_t meta_int_at_most(const FormatArrays& fa, const std::string& key, std::int64_t max);
// An optional pruning share in [0, 1] (e.g. tw "column_share", tew "delta"): written
// (shortest round-trip text) when share >= 0; read back as -1 when absent, Error naming
// the key when present but not a number in [0, 1].
void put_meta_share(FormatArrays& fa, const std::string& key, double share);
double meta_share(const FormatArrays& fa, const std::string& key);

// values (representable in dtype) as a tensor of dtype's element type and the given shape.
Tensor values_tensor(const std::vector<float>& values, DType dtype, std::vector<std::int64_t> shape);

// The array `name`, checked to have element type `type` and exactly `shape`.
const Tensor& checked_array(const FormatArrays& fa, const std::string& name, ElemType type,
                            const std::vector<std::int64_t>& shape);
// The 1-d array `name` of element type `type`, any length.
const Tensor& checked_array_1d(const FormatArrays& fa, const std::string& name, ElemType type);

// Decoded values of a dtype array of exactly `shape`.
std::vector<float> read_values(const FormatArrays& fa, const std::string& name, DType dtype,
                               const std::vector<std::int64_t>& shape);

template <class T>
std::vector<T> read_array(const FormatArrays& fa, const std::string& name, const std::vector<std::int64_t>& shape) {
  return checked_array(fa, name, elem_type_for<T>(), shape).template to_vector<T>(name);
}

template <class T>
std::vector<T> read_array_1d(const FormatArrays& fa, const std::string& name) {
  return checked_array_1d(fa, name, elem_type_for<T>()).template to_vector<T>(name);
}

}  // namespace tilesparse::detail

#pragma once
// A type-erased n-d array as files hold it (safetensors, .npy): element type, shape and
// little-endian bytes. Formats turn themselves into named Tensors to be saved.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "tilesparse/core/error.hpp"
#include "tilesparse/core/matrix.hpp"

namespace tilesparse {

enum class ElemType : std::uint8_t { f64, f32, f16, bf16, i64, i32, i16, i8, u64, u32, u16, u8, boolean };

// safetensors spelling: "F32", "BF16", "I32", "U8", "BOOL", ...
std::string_view to_string(ElemType t);
// Throws Error naming the unknown type.
ElemType parse_elem_type(std::string_view safetensors_name);
std::size_t size_of(ElemType t);
bool is_float(ElemType t);
ElemType elem_type_of(DType t);

template <class T> constexpr ElemType elem_type_for();
template <> constexpr ElemType elem_type_for<double>() { return ElemType::f64; }
template <> constexpr ElemType elem_type_for<float>() { return ElemType::f32; }
template <> constexpr ElemType elem_type_for<std::int64_t>() { return ElemType::i64; }
template <> constexpr ElemType elem_type_for<std::int32_t>() { return ElemType::i32; }
template <> constexpr ElemType elem_type_for<std::int16_t>() { return ElemType::i16; }
template <> constexpr ElemType elem_type_for<std::int8_t>() { return ElemType::i8; }
template <> constexpr ElemType elem_type_for<std::uint64_t>() { return ElemType::u64; }
template <> constexpr ElemType elem_type_for<std::uint32_t>() { return ElemType::u32; }
template <> constexpr ElemType elem_type_for<std::uint16_t>() { return ElemType::u16; }
template <> constexpr ElemType elem_type_for<std::uint8_t>() { return ElemType::u8; }

struct Tensor {
  ElemType type = ElemType::f32;
  std::vector<std::int64_t> shape;
  std::vector<std::byte> bytes;  // little-endian, row-major, size numel()*size_of(type)

  // Product of the dimensions: 1 for a 0-d tensor, 0 when any dimension is 0. Throws
  // Error when a dimension is negative or the product overflows int64.
  std::int64_t numel() const;

  template <class T>
  static Tensor from_vector(const std::vector<T>& v, std::vector<std::int64_t> shape) {
    Tensor t{elem_type_for<T>(), std::move(shape), {}};
    require(t.numel() == static_cast<std::int64_t>(v.size()), "Tensor::from_vector",
            "shape does not match the number of values");
    // One size for both: GCC cannot see that bytes.size() equals it after resize() and
    // warns that memcpy may read past v (-Wstringop-overread).
    const std::size_t nbytes = v.size() * sizeof(T);
    t.bytes.resize(nbytes);
    if (nbytes != 0) std::memcpy(t.bytes.data(), v.data(), nbytes);
    return t;
  }

  // Copies out the values; throws Error when the element type is not exactly T.
  template <class T>
  std::vector<T> to_vector(std::string_view what = "tensor") const {
    require(type == elem_type_for<T>(), "Tensor::to_vector",
            std::string(what) + ": expected element type " + std::string(to_string(elem_type_for<T>())) +
                ", found " + std::string(to_string(type)));
    std::vector<T> v(bytes.size() / sizeof(T));
    if (!v.empty()) std::memcpy(v.data(), bytes.data(), v.size() * sizeof(T));
    return v;
  }

  friend bool operator==(const Tensor&, const Tensor&) = default;
};

// A 2-d matrix as an f32/f16/bf16 tensor of its own dtype (bit-exact).
Tensor to_tensor(const HostMatrix& m);
// A 2-d F32/F16/BF16/F64 tensor as a matrix (F64 is read as f32). Throws Error otherwise.
HostMatrix to_matrix(const Tensor& t, std::string_view what = "tensor");

}  // namespace tilesparse

#include "tilesparse/core/tensor.hpp"

#include <array>
#include <string>

namespace tilesparse {

namespace {
struct ElemInfo {
  ElemType type;
  std::string_view name;
  std::size_t size;
};
constexpr std::array<ElemInfo, 13> kElemTypes{{
    {ElemType::f64, "F64", 8}, {ElemType::f32, "F32", 4}, {ElemType::f16, "F16", 2},
    {ElemType::bf16, "BF16", 2}, {ElemType::i64, "I64", 8}, {ElemType::i32, "I32", 4},
    {ElemType::i16, "I16", 2}, {ElemType::i8, "I8", 1}, {ElemType::u64, "U64", 8},
    {ElemType::u32, "U32", 4}, {ElemType::u16, "U16", 2}, {ElemType::u8, "U8", 1},
    {ElemType::boolean, "BOOL", 1},
}};
const ElemInfo& info(ElemType t) {
  for (const auto& e : kElemTypes)
    if (e.type == t) return e;
  throw Error("ElemType", "invalid element type");
}
}  // namespace

std::string_view to_string(ElemType t) { return info(t).name; }
std::size_t size_of(ElemType t) { return info(t).size; }

ElemType parse_elem_type(std::string_view name) {
  for (const auto& e : kElemTypes)
    if (e.name == name) return e.type;
  throw Error("parse_elem_type", "unknown or unsupported element type '" + std::string(name) + "'");
}

bool is_float(ElemType t) {
  return t == ElemType::f64 || t == ElemType::f32 || t == ElemType::f16 || t == ElemType::bf16;
}

ElemType elem_type_of(DType t) {
  switch (t) {
    case DType::f32: return ElemType::f32;
    case DType::f16: return ElemType::f16;
    case DType::bf16: return ElemType::bf16;
  }
  return ElemType::f32;
}

std::int64_t Tensor::numel() const {
  // Messages are built only on failure: numel() runs on every array a file holds.
  for (auto d : shape)
    if (d < 0) throw Error("Tensor::numel", "negative dimension " + std::to_string(d), shape_str(shape));
  // As the safetensors reader counts: an empty dimension empties the tensor whatever the
  // others are, so [huge, huge, 0] is 0 elements, not an overflow.
  for (auto d : shape)
    if (d == 0) return 0;
  std::int64_t n = 1;
  for (auto d : shape)
    if (__builtin_mul_overflow(n, d, &n))
      throw Error("Tensor::numel", "element count overflows int64", shape_str(shape));
  return n;
}

Tensor to_tensor(const HostMatrix& m) {
  Tensor t{elem_type_of(m.dtype()), {m.rows(), m.cols()}, {}};
  auto v = m.values();
  t.bytes.resize(v.size() * size_of(m.dtype()));
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (m.dtype() == DType::f32) {
      std::memcpy(t.bytes.data() + 4 * i, &v[i], 4);
    } else {
      const std::uint16_t h =
          m.dtype() == DType::f16 ? float_to_f16_bits(v[i]) : float_to_bf16_bits(v[i]);
      std::memcpy(t.bytes.data() + 2 * i, &h, 2);
    }
  }
  return t;
}

HostMatrix to_matrix(const Tensor& t, std::string_view what) {
  const std::string name(what);
  require(t.shape.size() == 2, "to_matrix", name + ": expected a 2-d tensor, got " + std::to_string(t.shape.size()) + "-d");
  require(is_float(t.type), "to_matrix",
          name + ": expected a floating-point tensor (F32, F16, BF16, F64), got " + std::string(to_string(t.type)));
  const std::int64_t n = t.numel();
  std::int64_t nbytes = 0;
  require(!__builtin_mul_overflow(n, static_cast<std::int64_t>(size_of(t.type)), &nbytes) &&
              static_cast<std::int64_t>(t.bytes.size()) == nbytes,
          "to_matrix", name + ": byte size does not match shape");
  std::vector<float> v(static_cast<std::size_t>(n));
  DType dt = DType::f32;
  for (std::int64_t i = 0; i < n; ++i) {
    switch (t.type) {
      case ElemType::f64: {
        double d;
        std::memcpy(&d, t.bytes.data() + 8 * i, 8);
        v[i] = static_cast<float>(d);
        break;
      }
      case ElemType::f32: std::memcpy(&v[i], t.bytes.data() + 4 * i, 4); break;
      case ElemType::f16:
      case ElemType::bf16: {
        std::uint16_t h;
        std::memcpy(&h, t.bytes.data() + 2 * i, 2);
        v[i] = t.type == ElemType::f16 ? f16_bits_to_float(h) : bf16_bits_to_float(h);
        dt = t.type == ElemType::f16 ? DType::f16 : DType::bf16;
        break;
      }
      default: break;
    }
  }
  if (t.type == ElemType::f16) dt = DType::f16;
  if (t.type == ElemType::bf16) dt = DType::bf16;
  return HostMatrix(t.shape[0], t.shape[1], dt, std::move(v));
}

}  // namespace tilesparse

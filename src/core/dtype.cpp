#include "tilesparse/core/dtype.hpp"

#include <bit>
#include <cmath>
#include <string>

#include "tilesparse/core/error.hpp"

namespace tilesparse {

std::string_view to_string(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::f16: return "f16";
    case DType::bf16: return "bf16";
  }
  return "?";
}

DType parse_dtype(std::string_view name) {
  if (name == "f32" || name == "fp32" || name == "float32" || name == "F32") return DType::f32;
  if (name == "f16" || name == "fp16" || name == "float16" || name == "half" || name == "F16") return DType::f16;
  if (name == "bf16" || name == "bfloat16" || name == "BF16") return DType::bf16;
  throw Error("parse_dtype", "unknown dtype '" + std::string(name) + "' (expected f32, f16 or bf16)");
}

std::size_t size_of(DType t) { return t == DType::f32 ? 4 : 2; }

std::uint16_t float_to_f16_bits(float x) {
  const std::uint32_t f = std::bit_cast<std::uint32_t>(x);
  const std::uint32_t sign = (f >> 16) & 0x8000u;
  const std::uint32_t abs = f & 0x7fffffffu;
  if (abs >= 0x7f800000u) {  // Inf or NaN; keep NaN quiet and non-zero
    return static_cast<std::uint16_t>(sign | 0x7c00u | (abs > 0x7f800000u ? 0x0200u | ((abs >> 13) & 0x3ffu) : 0u));
  }
  if (abs >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // rounds to >= 65520: Inf
  if (abs < 0x38800000u) {  // result is subnormal or zero: value = m * 2^-24
    // Scale into the subnormal grid and round to nearest even in float arithmetic, exact here.
    const float scaled = std::bit_cast<float>(abs) * 16777216.0f;  // * 2^24
    const float r = std::nearbyint(scaled);                          // default mode: ties to even
    return static_cast<std::uint16_t>(sign | static_cast<std::uint32_t>(r));
  }
  // Normal: rebias exponent, round mantissa 23 -> 10 bits to nearest even.
  std::uint32_t mant = abs + 0xc8000000u;  // exponent -127+15 = -112 -> subtract 112<<23
  const std::uint32_t round_bit = 0x1000u, sticky = 0x0fffu;
  std::uint32_t h = mant >> 13;
  if ((mant & round_bit) && ((mant & sticky) || (h & 1u))) ++h;
  return static_cast<std::uint16_t>(sign | h);
}

float f16_bits_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1fu;
  const std::uint32_t mant = h & 0x3ffu;
  if (exp == 0) {
    const float v = static_cast<float>(mant) * (1.0f / 16777216.0f);  // 2^-24
    return sign ? -v : v;
  }
  if (exp == 31) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));
  return std::bit_cast<float>(sign | ((exp + 112u) << 23) | (mant << 13));
}

std::uint16_t float_to_bf16_bits(float x) {
  const std::uint32_t f = std::bit_cast<std::uint32_t>(x);
  if ((f & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((f >> 16) | 0x0040u);  // quiet NaN
  const std::uint32_t rounding = 0x7fffu + ((f >> 16) & 1u);
  return static_cast<std::uint16_t>((f + rounding) >> 16);
}

float bf16_bits_to_float(std::uint16_t b) { return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16); }

float round_to(DType t, float x) {
  switch (t) {
    case DType::f32: return x;
    case DType::f16: return f16_bits_to_float(float_to_f16_bits(x));
    case DType::bf16: return bf16_bits_to_float(float_to_bf16_bits(x));
  }
  return x;
}

}  // namespace tilesparse

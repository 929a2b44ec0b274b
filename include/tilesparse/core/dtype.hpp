#pragma once
// Element types of weights and activations. Host code holds values as float; a DType
// says which precision they are stored in on disk and on the device. Conversions round
// to nearest, ties to even, and keep NaN/Inf.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tilesparse {

enum class DType : std::uint8_t { f32, f16, bf16 };

std::string_view to_string(DType t);
// Accepts "f32"/"fp32"/"float32", "f16"/"fp16"/"float16", "bf16"/"bfloat16"; throws Error otherwise.
DType parse_dtype(std::string_view name);
std::size_t size_of(DType t);

std::uint16_t float_to_f16_bits(float x);
float f16_bits_to_float(std::uint16_t h);
std::uint16_t float_to_bf16_bits(float x);
float bf16_bits_to_float(std::uint16_t b);

// The value x becomes once stored in t (identity for f32).
float round_to(DType t, float x);

}  // namespace tilesparse

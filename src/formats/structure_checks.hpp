#pragma once
// Structural checks shared by the formats' validate(): each returns the first problem,
// named precisely enough to find it in the stored arrays.
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <vector>

#include "tilesparse/core/matrix.hpp"
#include "tilesparse/formats/common.hpp"

namespace tilesparse::detail {

// k and n in [0, kMaxDim].
Validation check_dims(std::int64_t k, std::int64_t n);

// Every value is exactly representable in dtype (NaN passes: it is a value, not a layout fault).
Validation check_representable(std::span<const float> values, DType dtype, const std::string& array);

// The mask's keep vector holds rows*cols entries.
Validation check_mask_shape(const Mask& mask);

// Compressed rows (CSR/BSR): ptr has rows+1 entries from 0, never decreasing, ending at
// idx.size(); inside each row idx is strictly ascending and in [0, cols). `row` names a
// row in messages ("output column", "block row").
struct CompressedRows {
  const std::vector<std::int64_t>& ptr;
  const std::vector<std::int32_t>& idx;
  std::int64_t rows, cols;
  std::string ptr_name, idx_name, row;
};
Validation check_compressed_rows(const CompressedRows& c);

// Product of non-negative factors, false on overflow.
bool checked_product(std::initializer_list<std::int64_t> factors, std::int64_t& out);

std::int64_t count_nonzero(std::span<const float> values);

}  // namespace tilesparse::detail

#include "src/formats/structure_checks.hpp"

#include <cmath>

#include "src/formats/format_arrays.hpp"

namespace tilesparse::detail {

Validation check_dims(std::int64_t k, std::int64_t n) {
  for (auto [name, v] : {std::pair{"k", k}, std::pair{"n", n}}) {
    if (v < 0 || v > kMaxDim)
      return Validation::fail(std::string(name) + " = " + std::to_string(v) + " is outside [0, " +
                              std::to_string(kMaxDim) + "]");
  }
  return {};
}

Validation check_representable(std::span<const float> values, DType dtype, const std::string& array) {
  for (std::size_t i = 0; i < values.size(); ++i) {
    const float x = values[i];
    if (!std::isnan(x) && round_to(dtype, x) != x)
      return Validation::fail(array + "[" + std::to_string(i) + "] = " + std::to_string(x) +
                              " is not representable in " + std::string(to_string(dtype)));
  }
  return {};
}

Validation check_mask_shape(const Mask& mask) {
  std::int64_t size = 0;
  if (mask.rows < 0 || mask.cols < 0 || !checked_product({mask.rows, mask.cols}, size) ||
      static_cast<std::int64_t>(mask.keep.size()) != size)
    return Validation::fail("mask " + shape_str({mask.rows, mask.cols}) + " holds " +
                            std::to_string(mask.keep.size()) + " entries");
  return {};
}

Validation check_compressed_rows(const CompressedRows& c) {
  const auto& ptr = c.ptr;
  const auto& idx = c.idx;
  const auto nnz = static_cast<std::int64_t>(idx.size());
  if (static_cast<std::int64_t>(ptr.size()) != c.rows + 1)
    return Validation::fail(c.ptr_name + " has " + std::to_string(ptr.size()) + " entries, expected " +
                            std::to_string(c.rows + 1));
  if (ptr[0] != 0) return Validation::fail(c.ptr_name + "[0] = " + std::to_string(ptr[0]) + ", expected 0");
  for (std::int64_t r = 0; r < c.rows; ++r) {
    if (ptr[r + 1] < ptr[r])
      return Validation::fail(c.ptr_name + " decreases at " + c.row + " " + std::to_string(r) + ": " + c.ptr_name +
                              "[" + std::to_string(r) + "] = " + std::to_string(ptr[r]) + " > " + c.ptr_name + "[" +
                              std::to_string(r + 1) + "] = " + std::to_string(ptr[r + 1]));
    if (ptr[r + 1] > nnz)
      return Validation::fail(c.ptr_name + "[" + std::to_string(r + 1) + "] = " + std::to_string(ptr[r + 1]) +
                              " exceeds the " + std::to_string(nnz) + " entries of " + c.idx_name);
  }
  if (ptr[c.rows] != nnz)
    return Validation::fail(c.ptr_name + "[" + std::to_string(c.rows) + "] = " + std::to_string(ptr[c.rows]) + " but " +
                            c.idx_name + " has " + std::to_string(nnz) + " entries");
  // Messages are built only on failure: this loop sees every stored index.
  const auto at = [&](std::int64_t p, std::int64_t r) {
    return c.idx_name + "[" + std::to_string(p) + "] = " + std::to_string(idx[p]) + " in " + c.row + " " +
           std::to_string(r);
  };
  for (std::int64_t r = 0; r < c.rows; ++r) {
    for (std::int64_t p = ptr[r]; p < ptr[r + 1]; ++p) {
      if (idx[p] < 0 || idx[p] >= c.cols)
        return Validation::fail(at(p, r) + " is out of range [0, " + std::to_string(c.cols) + ")");
      if (p > ptr[r] && idx[p] <= idx[p - 1])
        return Validation::fail(at(p, r) + " is not above the previous entry " + std::to_string(idx[p - 1]) +
                                " (indices must be strictly ascending)");
    }
  }
  return {};
}

bool checked_product(std::initializer_list<std::int64_t> factors, std::int64_t& out) {
  out = 1;
  for (auto f : factors) {
    if (f < 0 || __builtin_mul_overflow(out, f, &out)) return false;
  }
  return true;
}

std::int64_t count_nonzero(std::span<const float> values) {
  std::int64_t n = 0;
  for (float x : values) n += x != 0.0f;
  return n;
}

}  // namespace tilesparse::detail

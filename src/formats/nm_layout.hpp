#pragma once
// Where the units and groups of an N:M weight lie in the K x N matrix. Shared by the
// format, its projector and its reference matmul so all three agree on partial groups
// (K not a multiple of group*unit_rows) and partial column units (N not a multiple of
// unit_cols).
#include <algorithm>
#include <cstdint>
#include <string>

#include "tilesparse/formats/nm.hpp"
#include "tilesparse/formats/pattern.hpp"

namespace tilesparse::detail {

struct Span {
  std::int64_t begin = 0, end = 0;  // [begin, end)
  std::int64_t size() const { return end - begin; }
};

struct NmLayout {
  std::int64_t k = 0, n = 0;
  int keep = 2, group = 4, unit_rows = 1, unit_cols = 1;

  // spec must be nm or 24 (read as 2:4 element); checks spec.
  static NmLayout of(const PatternSpec& spec, std::int64_t k, std::int64_t n);
  // w's parameters must already be valid (validate() checks them first).
  static NmLayout of(const NmWeight& w);

  std::int64_t group_rows() const { return static_cast<std::int64_t>(group) * unit_rows; }
  std::int64_t groups() const { return (k + group_rows() - 1) / group_rows(); }
  std::int64_t column_units() const { return (n + unit_cols - 1) / unit_cols; }
  // First matrix row of unit `offset` of group g (may lie at or past K).
  std::int64_t unit_start(std::int64_t g, int offset) const { return (g * group + offset) * unit_rows; }
  // Units of group g that start inside K: `group`, except in a partial last group.
  int units_in_group(std::int64_t g) const {
    const std::int64_t left = (k - g * group_rows() + unit_rows - 1) / unit_rows;
    return static_cast<int>(std::min<std::int64_t>(group, left));
  }
  // Matrix rows of a unit, clipped to K (empty past K).
  Span unit_rows_span(std::int64_t g, int offset) const {
    const std::int64_t r0 = std::min(k, unit_start(g, offset));
    return {r0, std::min(k, r0 + unit_rows)};
  }
  Span columns(std::int64_t cu) const { return {cu * unit_cols, std::min(n, (cu + 1) * unit_cols)}; }

  // "group 3 (rows 12..15), columns 4..5" for messages.
  std::string describe(std::int64_t g, std::int64_t cu) const;
};

// The N:M spec that `spec` means: nm as is, 24 as nm 2:4 element. Throws Error otherwise.
PatternSpec as_nm_spec(const PatternSpec& spec);
// 4 when group <= 16, else 8.
int nm_index_bits(int group);

}  // namespace tilesparse::detail

#pragma once
// General N:M sparsity (nmSPARSE): in every aligned group of `group` consecutive units
// along K at most `keep` are kept. A unit is unit_rows() x unit_cols() elements: an
// element (1x1), a vector of v output columns (1xv: the v columns share kept K
// positions) or a b x b block.
//
// Compressed layout, K axis shrunk by keep/group, output columns left dense so a warp
// reads contiguous columns:
//   groups   = ceil(K / (group*unit_rows))           (the last group may be partial)
//   slots    = groups * keep                         (kept units per column-unit)
//   values   [slots*unit_rows][n]                    slot s, row r of the unit, column j
//   indices  [slots][ceil(n/unit_cols)]              in-group unit offset of slot s
// indices are packed little-endian at index_bits (4 when group <= 16, else 8; group
// <= 256), two 4-bit entries per byte, low nibble first; each row of the indices array
// starts on a byte boundary. Offsets of the slots of one group are strictly ascending
// and < group. A group that keeps fewer than `keep` units fills its spare slots with
// unused offsets and zero values; in the partial last group, a slot whose unit lies past
// K holds zeros.
#include <vector>

#include "tilesparse/core/matrix.hpp"
#include "tilesparse/formats/common.hpp"
#include "tilesparse/formats/pattern.hpp"

namespace tilesparse {

struct NmWeight {
  std::int64_t k = 0, n = 0;
  DType dtype = DType::f32;
  int keep = 2, group = 4;
  NmUnit unit = NmUnit::element;
  int unit_rows = 1, unit_cols = 1;
  int index_bits = 4;
  std::vector<float> values;          // [slots*unit_rows][n]
  std::vector<std::uint8_t> indices;  // packed, [slots][row_bytes()]

  std::int64_t groups() const;
  std::int64_t slots() const { return groups() * keep; }
  std::int64_t column_units() const { return (n + unit_cols - 1) / unit_cols; }
  std::int64_t row_bytes() const;  // bytes per slot row of `indices`
  int index(std::int64_t slot, std::int64_t column_unit) const;
  void set_index(std::int64_t slot, std::int64_t column_unit, int offset);

  // spec.pattern must be nm (or 24, read as nm 2:4 element). Throws Error naming the
  // first group that keeps more than `keep` units, or a unit kept only in part.
  static NmWeight from_dense(const HostMatrix& w, const Mask& mask, const PatternSpec& spec);
  // ok when the mask obeys spec (N:M per group, whole units); names the first offence.
  static Validation check_mask(const Mask& mask, const PatternSpec& spec);
  Validation validate() const;
  HostMatrix to_dense() const;
  std::int64_t kept() const;  // nonzero stored values
  std::size_t bytes() const;
  FormatArrays to_arrays() const;  // "values" dtype[slots*unit_rows, n], "indices" U8[slots, row_bytes]
  static NmWeight from_arrays(const FormatArrays& fa);
  friend bool operator==(const NmWeight&, const NmWeight&) = default;
};

}  // namespace tilesparse

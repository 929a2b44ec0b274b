#pragma once
// Tile-element-wise sparsity: a TW weight plus the elements it prunes that matter most,
// kept apart as a CSR residual. W = tw + residual, and the two never overlap.
#include "tilesparse/formats/ew.hpp"
#include "tilesparse/formats/tw.hpp"

namespace tilesparse {

struct TewWeight {
  TwWeight tw;
  EwWeight residual;
  // The δ the projector used (PatternSpec::delta; -1: not known, e.g. a file written
  // before it was stored). Kept in model files, unused by the kernels.
  double delta = -1;

  // tw_mask gives the tile structure (must be a valid TW mask for g); residual_mask the
  // restored elements, which must lie outside tw_mask.
  static TewWeight from_dense(const HostMatrix& w, const Mask& tw_mask, const Mask& residual_mask, std::int64_t g);
  Validation validate() const;
  HostMatrix to_dense() const;
  // The TW weight of the same product: its tiles also keep the rows (and its kept
  // columns the columns) that residual entries lie in, holding zeros where neither part
  // has a value. The TW kernels run it in one pass instead of TW plus a residual pass.
  // It keeps more elements: a row an entry adds to a tile is kept for all the tile's
  // columns, and a column an entry adds regroups the tiles after it (so the rows of
  // tiles that gain no entry can grow as well).
  TwWeight merged() const;
  std::int64_t kept() const;
  std::size_t bytes() const;
  FormatArrays to_arrays() const;  // the tw arrays, plus "residual.row_ptr", "residual.k_idx", "residual.values"
  static TewWeight from_arrays(const FormatArrays& fa);
  friend bool operator==(const TewWeight&, const TewWeight&) = default;
};

}  // namespace tilesparse

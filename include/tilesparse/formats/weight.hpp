#pragma once
// A weight in any format, and the operations every format has, dispatched by pattern.
#include <variant>

#include "tilesparse/formats/bw.hpp"
#include "tilesparse/formats/dense.hpp"
#include "tilesparse/formats/ew.hpp"
#include "tilesparse/formats/nm.hpp"
#include "tilesparse/formats/pattern.hpp"
#include "tilesparse/formats/sp24.hpp"
#include "tilesparse/formats/tew.hpp"
#include "tilesparse/formats/tw.hpp"

namespace tilesparse {

using Weight = std::variant<DenseWeight, EwWeight, BwWeight, NmWeight, Sp24Weight, TwWeight, TewWeight>;

// What a projector selects: the pattern's mask, and for tew the restored elements
// (residual, disjoint from mask); residual is 0 x 0 for every other pattern.
struct PatternMask {
  Mask mask;
  Mask residual;
  // mask | residual: every kept element.
  Mask combined() const;
};

Pattern pattern_of(const Weight& w);
std::int64_t k_of(const Weight& w);
std::int64_t n_of(const Weight& w);
DType dtype_of(const Weight& w);
// The parameters that define the weight's pattern (bk/bn, keep/group/unit, g, ...).
PatternSpec spec_of(const Weight& w);

// Builds the format of spec from a dense weight and a mask that obeys spec's pattern;
// throws Error naming the first offending group/tile otherwise.
Weight make_weight(const HostMatrix& w, const PatternMask& mask, const PatternSpec& spec);
// Checks that `mask` obeys spec's pattern (K x N orientation); names the first offence.
Validation validate_mask(const Mask& mask, const PatternSpec& spec);

Validation validate(const Weight& w);
HostMatrix to_dense(const Weight& w);
std::int64_t kept(const Weight& w);
// 1 - kept / (K*N); 0 for an empty weight.
double sparsity(const Weight& w);
// The K rows holding a nonzero value (NaN counts): the columns of A that C = A · w depends
// on, which is all a kernel must read of A (perf::matmul_cost).
std::int64_t nonzero_rows(const Weight& w);
std::size_t bytes(const Weight& w);
FormatArrays to_arrays(const Weight& w);
// Reads meta "pattern" and builds that format; validates the result.
Weight weight_from_arrays(const FormatArrays& fa);

}  // namespace tilesparse

#pragma once
// Sparsity patterns and their parameters (DESIGN.md §2). K is the reduction axis,
// N the output-feature axis of a K x N weight.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace tilesparse {

enum class Pattern : std::uint8_t { dense, ew, bw, nm, sp24, tw, tew };

// "dense", "ew", "bw", "nm", "24", "tw", "tew".
std::string_view to_string(Pattern p);
// Throws Error listing the known names.
Pattern parse_pattern(std::string_view name);

// Granularity of an N:M unit: one element, v consecutive output columns sharing their
// kept K positions, or a b x b block.
enum class NmUnit : std::uint8_t { element, vector, block };
std::string_view to_string(NmUnit u);
NmUnit parse_nm_unit(std::string_view name);

struct PatternSpec {
  Pattern pattern = Pattern::dense;
  // bw: block of bk rows (K) x bn columns (N).
  std::int64_t bk = 32;
  std::int64_t bn = 32;
  // nm: keep at most `keep` of every `group` consecutive units along K.
  int keep = 2;
  int group = 4;
  NmUnit unit = NmUnit::element;
  int v = 1;  // vector length (unit == vector)
  int b = 1;  // block side (unit == block)
  // tw/tew: tile width G in output columns.
  std::int64_t g = 128;
  // tw: share of the sparsity budget spent on whole columns; negative = the paper's
  // even split s' = 1 - sqrt(1 - s) for each of columns and rows.
  double column_share = -1.0;
  // tew: share of elements restored into the CSR residual.
  double delta = 0.05;

  // Rows (K) and columns (N) of one N:M unit.
  int unit_rows() const { return unit == NmUnit::block ? b : 1; }
  int unit_cols() const { return unit == NmUnit::element ? 1 : unit == NmUnit::vector ? v : b; }

  // Throws Error when the parameters are unusable (N >= M, G < 1, bk < 1, ...).
  void check() const;
  // Parameters that matter for this pattern as "key=value" pairs, e.g. {"n":"2","m":"4"}.
  std::map<std::string, std::string> params() const;
  // "tw(g=128)", "nm(n=2,m=4,unit=element)".
  std::string describe() const;
  // Builds a spec from a pattern name and key=value parameters (keys as params() writes
  // them); unknown keys and bad values are errors naming the key.
  static PatternSpec from_params(std::string_view pattern, const std::map<std::string, std::string>& kv);
  friend bool operator==(const PatternSpec&, const PatternSpec&) = default;
};

}  // namespace tilesparse

#include "tilesparse/formats/pattern.hpp"

#include <array>
#include <charconv>
#include <sstream>

#include "tilesparse/core/error.hpp"

namespace tilesparse {

namespace {
constexpr std::array<std::pair<Pattern, std::string_view>, 7> kPatterns{{
    {Pattern::dense, "dense"}, {Pattern::ew, "ew"}, {Pattern::bw, "bw"}, {Pattern::nm, "nm"},
    {Pattern::sp24, "24"}, {Pattern::tw, "tw"}, {Pattern::tew, "tew"},
}};

template <class T>
T parse_number(const std::string& key, const std::string& text) {
  T value{};
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  require(ec == std::errc() && ptr == end, "PatternSpec", "parameter '" + key + "': '" + text + "' is not a number");
  return value;
}
}  // namespace

std::string_view to_string(Pattern p) {
  for (auto& [pat, name] : kPatterns)
    if (pat == p) return name;
  return "?";
}

Pattern parse_pattern(std::string_view name) {
  for (auto& [pat, n] : kPatterns)
    if (n == name) return pat;
  if (name == "sp24" || name == "2:4") return Pattern::sp24;
  throw Error("parse_pattern", "unknown pattern '" + std::string(name) + "' (expected dense, ew, bw, nm, 24, tw or tew)");
}

std::string_view to_string(NmUnit u) {
  switch (u) {
    case NmUnit::element: return "element";
    case NmUnit::vector: return "vector";
    case NmUnit::block: return "block";
  }
  return "?";
}

NmUnit parse_nm_unit(std::string_view name) {
  if (name == "element") return NmUnit::element;
  if (name == "vector") return NmUnit::vector;
  if (name == "block") return NmUnit::block;
  throw Error("parse_nm_unit", "unknown N:M unit '" + std::string(name) + "' (expected element, vector or block)");
}

void PatternSpec::check() const {
  const std::string what = describe();
  switch (pattern) {
    case Pattern::dense:
    case Pattern::ew:
    case Pattern::sp24: break;
    case Pattern::bw:
      require(bk >= 1 && bn >= 1, "PatternSpec", what + ": block sides must be >= 1");
      break;
    case Pattern::nm:
      require(group >= 2 && group <= 256, "PatternSpec", what + ": M must be in [2, 256]");
      require(keep >= 1 && keep < group, "PatternSpec", what + ": N must satisfy 1 <= N < M");
      if (unit == NmUnit::vector) require(v >= 1, "PatternSpec", what + ": vector length v must be >= 1");
      if (unit == NmUnit::block) require(b >= 1, "PatternSpec", what + ": block side b must be >= 1");
      break;
    case Pattern::tw:
    case Pattern::tew:
      require(g >= 1, "PatternSpec", what + ": tile width G must be >= 1");
      require(column_share < 0 || column_share <= 1, "PatternSpec", what + ": column_share must be in [0, 1]");
      if (pattern == Pattern::tew) require(delta >= 0 && delta <= 1, "PatternSpec", what + ": delta must be in [0, 1]");
      break;
  }
}

std::map<std::string, std::string> PatternSpec::params() const {
  std::map<std::string, std::string> kv;
  auto num = [](double x) {
    std::ostringstream os;
    os << x;
    return os.str();
  };
  switch (pattern) {
    case Pattern::dense:
    case Pattern::ew:
    case Pattern::sp24: break;
    case Pattern::bw:
      kv["bk"] = std::to_string(bk);
      kv["bn"] = std::to_string(bn);
      break;
    case Pattern::nm:
      kv["n"] = std::to_string(keep);
      kv["m"] = std::to_string(group);
      kv["unit"] = std::string(to_string(unit));
      if (unit == NmUnit::vector) kv["v"] = std::to_string(v);
      if (unit == NmUnit::block) kv["b"] = std::to_string(b);
      break;
    case Pattern::tew:
      kv["delta"] = num(delta);
      [[fallthrough]];
    case Pattern::tw:
      kv["g"] = std::to_string(g);
      if (column_share >= 0) kv["column_share"] = num(column_share);
      break;
  }
  return kv;
}

std::string PatternSpec::describe() const {
  std::string s(to_string(pattern));
  auto kv = params();
  if (kv.empty()) return s;
  s += '(';
  bool first = true;
  for (auto& [k, v] : kv) {
    if (!first) s += ',';
    s += k + "=" + v;
    first = false;
  }
  return s + ')';
}

PatternSpec PatternSpec::from_params(std::string_view pattern_name, const std::map<std::string, std::string>& kv) {
  PatternSpec spec;
  spec.pattern = parse_pattern(pattern_name);
  if (spec.pattern == Pattern::sp24) {
    spec.keep = 2;
    spec.group = 4;
  }
  for (auto& [key, value] : kv) {
    bool known = true;
    switch (spec.pattern) {
      case Pattern::bw:
        if (key == "bk") spec.bk = parse_number<std::int64_t>(key, value);
        else if (key == "bn") spec.bn = parse_number<std::int64_t>(key, value);
        else known = false;
        break;
      case Pattern::nm:
        if (key == "n") spec.keep = parse_number<int>(key, value);
        else if (key == "m") spec.group = parse_number<int>(key, value);
        else if (key == "unit") spec.unit = parse_nm_unit(value);
        else if (key == "v") spec.v = parse_number<int>(key, value);
        else if (key == "b") spec.b = parse_number<int>(key, value);
        else known = false;
        break;
      case Pattern::tw:
      case Pattern::tew:
        if (key == "g") spec.g = parse_number<std::int64_t>(key, value);
        else if (key == "column_share") spec.column_share = parse_number<double>(key, value);
        else if (key == "delta" && spec.pattern == Pattern::tew) spec.delta = parse_number<double>(key, value);
        else known = false;
        break;
      default: known = false;
    }
    require(known, "PatternSpec",
            "parameter '" + key + "' does not apply to pattern '" + std::string(pattern_name) + "'");
  }
  spec.check();
  return spec;
}

}  // namespace tilesparse

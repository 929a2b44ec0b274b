#pragma once
// Command-line lists of tilesparse-bench, parsed and checked: comma lists of names,
// sparsities, tile widths, forced kernels, and the epilogue choice. Header-only and free of CUDA so the
// CPU unit tests cover it (tests/unit/test_bench_args.cpp).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "tilesparse/core/error.hpp"
#include "tilesparse/ops.hpp"

namespace tilesparse::bench {

// Non-empty fields of a `sep`-separated list, spaces around each field dropped.
inline std::vector<std::string> split(const std::string& s, char sep = ',') {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string part; std::getline(ss, part, sep);) {
    const auto b = part.find_first_not_of(" \t"), e = part.find_last_not_of(" \t");
    if (b != std::string::npos) out.push_back(part.substr(b, e - b + 1));
  }
  return out;
}

// True when the list is empty (no filter) or holds x.
inline bool listed(const std::vector<std::string>& list, const std::string& x) {
  return list.empty() || std::find(list.begin(), list.end(), x) != list.end();
}

// The sparsity sweep of the TW paper's figures (0, 0.1, ..., 0.9, 0.95, 0.99) plus 0.75,
// where issue 5's headline targets are set: 13 values, ascending.
inline std::vector<double> sweep_sparsities() {
  std::vector<double> s;
  for (int i = 0; i <= 9; ++i) {
    s.push_back(i / 10.0);
    if (i == 7) s.push_back(0.75);
  }
  s.push_back(0.95);
  s.push_back(0.99);
  return s;
}

// A comma list of sparsities in [0, 1]; the word "sweep" stands for sweep_sparsities().
// Repeats are dropped, the first order kept. `flag` names the option in errors.
inline std::vector<double> parse_sparsities(const std::string& s, const std::string& flag) {
  std::vector<double> out;
  const auto add = [&](double v) {
    if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
  };
  for (const auto& f : split(s)) {
    if (f == "sweep") {
      for (double v : sweep_sparsities()) add(v);
      continue;
    }
    double v = 0;
    std::size_t used = 0;
    try {
      v = std::stod(f, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    require(used == f.size() && used > 0, "bench", flag + ": '" + f + "' is not a number (or the word sweep)");
    require(std::isfinite(v) && v >= 0 && v <= 1, "bench", flag + ": sparsity " + f + " is outside [0, 1]");
    add(v);
  }
  require(!out.empty(), "bench", flag + ": empty list");
  return out;
}

// A comma list of positive integers (tile widths G), repeats dropped unless keep_repeats
// (layer sizes of a chain).
inline std::vector<std::int64_t> parse_positive_ints(const std::string& s, const std::string& flag,
                                                     bool keep_repeats = false) {
  std::vector<std::int64_t> out;
  for (const auto& f : split(s)) {
    long long v = 0;
    std::size_t used = 0;
    try {
      v = std::stoll(f, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    require(used == f.size() && used > 0 && v > 0, "bench", flag + ": '" + f + "' is not a positive integer");
    if (keep_repeats || std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
  }
  require(!out.empty(), "bench", flag + ": empty list");
  return out;
}

// A comma list whose every name is one of `allowed` (error lists them), repeats dropped.
inline std::vector<std::string> parse_names(const std::string& s, const std::vector<std::string>& allowed,
                                            const std::string& flag) {
  std::vector<std::string> out;
  for (const auto& f : split(s)) {
    if (std::find(allowed.begin(), allowed.end(), f) == allowed.end()) {
      std::string known;
      for (const auto& a : allowed) known += (known.empty() ? "" : ", ") + a;
      throw Error("bench", flag + ": unknown '" + f + "' (one of " + known + ")");
    }
    if (std::find(out.begin(), out.end(), f) == out.end()) out.push_back(f);
  }
  require(!out.empty(), "bench", flag + ": empty list");
  return out;
}

// --kernel: a comma list of dispatch-table entry names to force (gpu::DeviceOptions::kernel),
// at most one per pattern; each applies to the rows of its pattern, the others keep the
// table's choice. `pattern_of(name)` gives an entry's pattern, or none for an unknown
// name (tilesparse::kernel_pattern). Empty: nothing forced.
template <class PatternOf>
std::map<Pattern, std::string> parse_forced_kernels(const std::string& s, PatternOf pattern_of,
                                                    const std::string& flag) {
  std::map<Pattern, std::string> out;
  for (const auto& name : split(s)) {
    const std::optional<Pattern> p = pattern_of(name);
    require(p.has_value(), "bench", flag + ": unknown kernel '" + name + "' (a dispatch-table entry, e.g. cuda.tw.mma)");
    const auto [it, added] = out.emplace(*p, name);
    require(added || it->second == name, "bench",
            flag + ": " + it->second + " and " + name + " are both kernels of pattern " + std::string(to_string(*p)) +
                "; force one per run");
  }
  return out;
}

// --epilogue: none, bias (bias only), bias-relu, bias-gelu.
struct EpilogueChoice {
  std::string name;
  bool bias = false;
  Activation activation = Activation::none;
};

inline EpilogueChoice parse_epilogue(const std::string& s) {
  if (s == "none") return {s, false, Activation::none};
  if (s == "bias") return {s, true, Activation::none};
  if (s == "bias-relu") return {s, true, Activation::relu};
  if (s == "bias-gelu") return {s, true, Activation::gelu};
  throw Error("bench", "--epilogue: unknown '" + s + "' (none, bias, bias-relu, bias-gelu)");
}

}  // namespace tilesparse::bench

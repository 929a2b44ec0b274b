#pragma once
// Pattern flags shared by the subcommands that prune (convert, prune): --pattern plus
// the parameters of each pattern, turned into a checked PatternSpec.
#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "tilesparse/formats/pattern.hpp"

namespace tilesparse::cli {

struct PatternOptions {
  std::string pattern;
  std::optional<double> sparsity;
  std::string n, m, unit, v, b, bk, bn, g, delta, column_share;

  // Adds --pattern (required), --sparsity and the parameter flags to cmd.
  void add_to(CLI::App& cmd);
  // The spec the flags describe; Error naming a flag that does not apply to the pattern.
  PatternSpec spec() const;
};

}  // namespace tilesparse::cli

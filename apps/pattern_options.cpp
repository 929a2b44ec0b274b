#include "apps/pattern_options.hpp"

#include <map>

namespace tilesparse::cli {

void PatternOptions::add_to(CLI::App& cmd) {
  cmd.add_option("--pattern,-p", pattern, "Sparsity pattern: dense, ew, bw, nm, 24, tw, tew")->required();
  cmd.add_option("--sparsity,-s", sparsity,
                 "Target share of pruned weights in [0, 1] (nm and 24 fix it at 1 - N/M: leave it out)");
  cmd.add_option("--n", n, "nm: units kept per group (N)");
  cmd.add_option("--m", m, "nm: group size along K (M)");
  cmd.add_option("--unit", unit, "nm: element, vector or block");
  cmd.add_option("--v", v, "nm vector: output columns sharing kept K positions");
  cmd.add_option("--b", b, "nm block: block side");
  cmd.add_option("--bk", bk, "bw: block rows along K (default 32)");
  cmd.add_option("--bn", bn, "bw: block columns along N (default 32)");
  cmd.add_option("--g", g, "tw/tew: tile width G in output columns (default 128)");
  cmd.add_option("--delta", delta, "tew: share of elements restored into the CSR residual (default 0.05)");
  cmd.add_option("--column-share", column_share,
                 "tw/tew: share of the sparsity spent on whole columns (default: even split, 1 - sqrt(1 - s) each)");
}

PatternSpec PatternOptions::spec() const {
  std::map<std::string, std::string> kv;
  const std::pair<const char*, const std::string*> flags[] = {
      {"n", &n}, {"m", &m}, {"unit", &unit}, {"v", &v},         {"b", &b},
      {"bk", &bk}, {"bn", &bn}, {"g", &g}, {"delta", &delta}, {"column_share", &column_share}};
  for (auto& [key, value] : flags)
    if (!value->empty()) kv[key] = *value;
  return PatternSpec::from_params(pattern, kv);
}

}  // namespace tilesparse::cli

#pragma once
// Channel permutations for N:M sparsity (Pool & Yu, "Channel Permutations for N:M
// Sparsity", NeurIPS'21). N:M groups run along K, so which K rows share a group decides
// how much magnitude N:M pruning keeps. Reordering K costs nothing at inference when the
// layer before reorders its output features the same way (permute_layer_pair), so we
// search the K order that keeps the most.
//
// The search, for any group size M and keep N < M:
//  - K is cut into stripes of M rows (the N:M groups). A stripe group is a set of
//    `stripes_per_group` stripes; for each one we find the best way to redistribute its
//    rows among its stripes: exhaustively (every partition into groups of M, group order
//    and order inside a group do not matter) when there are at most
//    `max_exhaustive_partitions` partitions, else by best-swap hill climbing.
//  - Greedy phase: apply the stripe groups with the largest gains first, never two that
//    share a stripe in one round; re-search only the groups whose stripes changed;
//    repeat until no group gains.
//  - Bounded regressions: when converged, force a random swap of two rows of different
//    stripes inside a random stripe group and converge again, `escape_attempts` times.
//    The best order ever seen is returned, so escapes never lose ground.
// A partial last stripe (K not a multiple of M) takes part: it is padded with zero rows
// that never leave it, which is exactly how N:M treats a partial last group.
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "tilesparse/core/matrix.hpp"
#include "tilesparse/formats/pattern.hpp"

namespace tilesparse {

struct PermutationOptions {
  int stripes_per_group = 2;                    // apex default: 2 stripes (8 columns for M=4)
  int escape_attempts = 100;                    // bounded regressions after convergence
  std::uint64_t seed = 0;                       // for the escapes' random swaps
  std::int64_t max_exhaustive_partitions = 100000;  // above this a stripe group is hill-climbed
};

struct PermutationResult {
  // Row k of the permuted weight is row permutation[k] of the original (size K).
  std::vector<std::int64_t> permutation;
  double kept_before = 0;  // sum of scores N:M keeps in the original order
  double kept_after = 0;   // ... in the permuted order
  // What any K order can keep at most: in every output column the top
  // (kept units per column) scores, as if groups were free (apex's "rows" bound).
  double upper_bound = 0;
  // Share of the gap [kept_before, upper_bound] closed (apex's efficacy); 1 when there
  // is no gap to close.
  double efficacy = 1;
  int escapes_used = 0;
};

// scores: K x N, finite and >= 0 (e.g. magnitude_scores(w)). keep < group, group >= 2.
PermutationResult search_nm_permutation(const HostMatrix& scores, int keep, int group,
                                        const PermutationOptions& options = {});

// Same for a pattern: nm with element or vector units (a vector's score is the sum of
// its v columns, which share their kept K positions) or 24. Block units are rejected:
// permuting single K rows would split the b x b blocks.
PermutationResult search_nm_permutation(const HostMatrix& scores, const PatternSpec& spec,
                                        const PermutationOptions& options = {});

// Sum of the scores that element N:M pruning keeps (top `keep` of every aligned group of
// `group` rows in each column; a partial last group keeps min(keep, rows) of its rows).
double nm_kept_score(const HostMatrix& scores, int keep, int group);

// Throws Error unless `permutation` holds every index in [0, size) exactly once.
void check_permutation(std::span<const std::int64_t> permutation, std::int64_t size, std::string_view what);

// Rows of m reordered: row k of the result is row permutation[k] of m.
HostMatrix permute_rows(const HostMatrix& m, std::span<const std::int64_t> permutation);
// Columns of m reordered: column j of the result is column permutation[j] of m.
HostMatrix permute_columns(const HostMatrix& m, std::span<const std::int64_t> permutation);

// Applies a K permutation of `current` (K x N) to a pair of layers without changing the
// network y = act(x·previous + previous_bias)·current for any elementwise activation:
// the previous layer's output features (columns of its K_prev x K weight and its bias)
// and this layer's K rows move together. previous_bias may be empty (no bias).
void permute_layer_pair(HostMatrix& previous, std::vector<float>& previous_bias, HostMatrix& current,
                        std::span<const std::int64_t> permutation);

}  // namespace tilesparse

#include "tilesparse/prune/permutation.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <unordered_map>

#include "src/prune/score_checks.hpp"
#include "tilesparse/core/error.hpp"

namespace tilesparse {
namespace {

constexpr const char* kOp = "search_nm_permutation";

// Sum of the `keep` largest of vals (vals is reordered). Groups are small (M values), so
// a partial selection sort beats nth_element: pick the `keep` largest, or drop the
// M - keep smallest, whichever is fewer passes.
double top_sum(std::span<float> vals, int keep) {
  const std::size_t size = vals.size();
  const std::size_t take = std::min<std::size_t>(static_cast<std::size_t>(keep), size);
  const bool pick_large = take <= size - take;
  const std::size_t passes = pick_large ? take : size - take;
  for (std::size_t i = 0; i < passes; ++i) {
    std::size_t best = i;
    for (std::size_t j = i + 1; j < size; ++j)
      if (pick_large ? vals[j] > vals[best] : vals[j] < vals[best]) best = j;
    std::swap(vals[i], vals[best]);
  }
  double s = 0;
  if (pick_large)
    for (std::size_t i = 0; i < take; ++i) s += vals[i];
  else
    for (std::size_t i = passes; i < size; ++i) s += vals[i];
  return s;
}

// Every way to split C = s*M local columns into s unordered groups of M, each written as
// C column indices (group g = entries [g*M, (g+1)*M)). Canonical form (each group starts
// with the smallest column not yet used, the rest ascending) lists each split once.
std::vector<std::uint16_t> enumerate_partitions(int columns, int group) {
  std::vector<std::uint16_t> out, cur;
  std::vector<bool> used(static_cast<std::size_t>(columns), false);
  std::function<void(int)> fill = [&](int min_next) {
    if (static_cast<int>(cur.size()) == columns) {
      out.insert(out.end(), cur.begin(), cur.end());
      return;
    }
    if (cur.size() % static_cast<std::size_t>(group) == 0) {  // a new group opens with the first free column
      const int first = static_cast<int>(std::find(used.begin(), used.end(), false) - used.begin());
      used[first] = true;
      cur.push_back(static_cast<std::uint16_t>(first));
      fill(first + 1);
      cur.pop_back();
      used[first] = false;
      return;
    }
    const int still = group - static_cast<int>(cur.size() % group);  // members this group still needs
    for (int c = min_next; c <= columns - still; ++c) {
      if (used[c]) continue;
      used[c] = true;
      cur.push_back(static_cast<std::uint16_t>(c));
      fill(c + 1);
      cur.pop_back();
      used[c] = false;
    }
  };
  fill(0);
  return out;
}

// log of C! / ((M!)^s s!), the number of canonical partitions.
double log_partition_count(int stripes, int group) {
  return std::lgamma(stripes * group + 1.0) - stripes * std::lgamma(group + 1.0) - std::lgamma(stripes + 1.0);
}

// The search state: K padded to whole stripes with zero rows ("phantoms") that must stay
// in the last stripe, and order[pos] = source row at padded position pos.
class StripeSearch {
 public:
  StripeSearch(const HostMatrix& scores, int keep, int group, const PermutationOptions& opt)
      : k_(scores.rows()), n_(scores.cols()), keep_(keep), m_(group), opt_(opt) {
    stripes_ = (k_ + m_ - 1) / m_;
    const std::int64_t padded = stripes_ * m_;
    rows_.assign(static_cast<std::size_t>(padded * n_), 0.0f);
    std::copy(scores.values().begin(), scores.values().end(), rows_.begin());
    order_.resize(static_cast<std::size_t>(padded));
    std::iota(order_.begin(), order_.end(), 0);
    s_ = static_cast<int>(std::min<std::int64_t>(opt.stripes_per_group, stripes_));
    const int columns = s_ * m_;
    exhaustive_ = columns <= 64 && log_partition_count(s_, m_) <= std::log(double(opt.max_exhaustive_partitions));
    if (exhaustive_ && s_ >= 2) partitions_ = enumerate_partitions(columns, m_);
    stripe_score_.resize(static_cast<std::size_t>(stripes_));
    for (std::int64_t st = 0; st < stripes_; ++st) stripe_score_[st] = score_stripe(st);
    build_stripe_groups();
  }

  std::vector<std::int64_t> run(int& escapes_used) {
    std::vector<std::int64_t> best = order_;
    double best_total = total();
    if (s_ < 2) return finish(best);  // one stripe: nothing to exchange
    std::mt19937_64 rng(opt_.seed);
    std::vector<double> gain(groups_.size() / s_, 0.0);
    std::vector<bool> dirty(gain.size(), true);
    std::vector<std::size_t> by_gain(gain.size());
    std::vector<bool> touched(static_cast<std::size_t>(stripes_));
    escapes_used = 0;
    for (;;) {
      for (std::size_t g = 0; g < gain.size(); ++g)
        if (dirty[g]) gain[g] = search_group(g, nullptr);
      std::iota(by_gain.begin(), by_gain.end(), 0);
      std::stable_sort(by_gain.begin(), by_gain.end(), [&](auto a, auto b) { return gain[a] > gain[b]; });
      std::fill(touched.begin(), touched.end(), false);
      bool improved = false;
      for (const auto g : by_gain) {
        if (gain[g] <= 0) break;
        const auto stripes = group_stripes(g);
        if (std::any_of(stripes.begin(), stripes.end(), [&](auto st) { return touched[st]; })) continue;
        std::vector<std::int64_t> arrangement;
        search_group(g, &arrangement);
        place(stripes, arrangement);
        for (const auto st : stripes) touched[st] = true;
        improved = true;
      }
      if (!improved) {
        if (total() > best_total) {
          best_total = total();
          best = order_;
        }
        if (escapes_used >= opt_.escape_attempts) break;
        ++escapes_used;
        escape(rng, touched);
      }
      for (std::size_t g = 0; g < gain.size(); ++g) {
        const auto stripes = group_stripes(g);
        dirty[g] = std::any_of(stripes.begin(), stripes.end(), [&](auto st) { return touched[st]; });
      }
    }
    return finish(best);
  }

 private:
  const float* row(std::int64_t source) const { return rows_.data() + source * n_; }
  bool phantom(std::int64_t source) const { return source >= k_; }
  double total() const { return std::accumulate(stripe_score_.begin(), stripe_score_.end(), 0.0); }
  std::span<const std::int64_t> group_stripes(std::size_t g) const {
    return {groups_.data() + g * s_, static_cast<std::size_t>(s_)};
  }

  // Kept score of a set of source rows treated as one N:M group.
  double score_rows(std::span<const std::int64_t> sources) const {
    std::vector<float> buf(sources.size());
    double s = 0;
    for (std::int64_t j = 0; j < n_; ++j) {
      for (std::size_t i = 0; i < sources.size(); ++i) buf[i] = row(sources[i])[j];
      s += top_sum(buf, keep_);
    }
    return s;
  }
  double score_stripe(std::int64_t st) const { return score_rows({order_.data() + st * m_, std::size_t(m_)}); }

  void build_stripe_groups() {
    // All s-subsets of the stripes, ascending inside each subset.
    std::vector<std::int64_t> pick(static_cast<std::size_t>(s_));
    std::function<void(int, std::int64_t)> rec = [&](int depth, std::int64_t from) {
      if (depth == s_) {
        groups_.insert(groups_.end(), pick.begin(), pick.end());
        return;
      }
      for (std::int64_t st = from; st <= stripes_ - (s_ - depth); ++st) {
        pick[depth] = st;
        rec(depth + 1, st + 1);
      }
    };
    if (s_ >= 2) rec(0, 0);
  }

  // Best redistribution of stripe group g's rows among its stripes. Returns the gain over
  // the current arrangement (0 when none is better); when `arrangement` is given, writes
  // the source rows stripe by stripe, the phantom-holding group last and phantoms at its end.
  double search_group(std::size_t g, std::vector<std::int64_t>* arrangement) const {
    const auto stripes = group_stripes(g);
    std::vector<std::int64_t> local;  // local column -> source row
    for (const auto st : stripes) local.insert(local.end(), order_.begin() + st * m_, order_.begin() + (st + 1) * m_);
    double current = 0;
    for (const auto st : stripes) current += stripe_score_[st];
    std::vector<std::int64_t> best_split(local.size());
    std::iota(best_split.begin(), best_split.end(), 0);
    const double best = exhaustive_ ? best_partition(local, best_split) : hill_climb(local, best_split, current);
    // Differences below summation noise are not gains: they would make the greedy loop cycle.
    const double gain = best - current;
    const bool better = gain > 1e-9 * std::max(current, 1e-30);
    if (arrangement) {
      arrangement->clear();
      if (!better) std::iota(best_split.begin(), best_split.end(), 0);
      // A group holding phantoms goes to the last stripe of the group (the partial one).
      int phantom_group = -1;
      for (std::size_t c = 0; c < best_split.size(); ++c)
        if (phantom(local[best_split[c]])) phantom_group = static_cast<int>(c) / m_;
      for (int slot = 0; slot < s_; ++slot) {
        int from = slot;
        if (phantom_group >= 0 && slot == phantom_group) from = s_ - 1;
        else if (phantom_group >= 0 && slot == s_ - 1) from = phantom_group;
        for (int i = 0; i < m_; ++i) arrangement->push_back(local[best_split[from * m_ + i]]);
      }
      std::stable_partition(arrangement->end() - m_, arrangement->end(), [&](auto src) { return !phantom(src); });
    }
    return better ? gain : 0.0;
  }

  // Exhaustive: every canonical partition that keeps the phantoms together.
  double best_partition(const std::vector<std::int64_t>& local, std::vector<std::int64_t>& best_split) const {
    const std::size_t columns = local.size();
    std::uint64_t phantoms = 0;
    for (std::size_t c = 0; c < columns; ++c)
      if (phantom(local[c])) phantoms |= std::uint64_t{1} << c;
    std::unordered_map<std::uint64_t, double> memo;  // a group's score, by member bitmask
    std::vector<std::int64_t> members(static_cast<std::size_t>(m_));
    double best = -1;
    for (std::size_t p = 0; p < partitions_.size(); p += columns) {
      double total = 0;
      bool admissible = true;
      for (int grp = 0; grp < s_ && admissible; ++grp) {
        std::uint64_t bits = 0;
        for (int i = 0; i < m_; ++i) bits |= std::uint64_t{1} << partitions_[p + grp * m_ + i];
        admissible = (bits & phantoms) == 0 || (bits & phantoms) == phantoms;
        auto [it, fresh] = memo.try_emplace(bits, 0.0);
        if (fresh) {
          for (int i = 0; i < m_; ++i) members[i] = local[partitions_[p + grp * m_ + i]];
          it->second = score_rows(members);
        }
        total += it->second;
      }
      if (admissible && total > best) {
        best = total;
        for (std::size_t c = 0; c < columns; ++c) best_split[c] = partitions_[p + c];
      }
    }
    return best;
  }

  // Large groups (too many partitions): best single swap between two stripes, repeated
  // until no swap gains. Phantoms never move, so the partial stripe stays partial.
  double hill_climb(const std::vector<std::int64_t>& local, std::vector<std::int64_t>& split, double current) const {
    std::vector<double> score(static_cast<std::size_t>(s_));
    std::vector<std::int64_t> a(static_cast<std::size_t>(m_)), b(static_cast<std::size_t>(m_));
    auto members = [&](int grp, std::vector<std::int64_t>& out) {
      for (int i = 0; i < m_; ++i) out[i] = local[split[grp * m_ + i]];
    };
    for (int grp = 0; grp < s_; ++grp) {
      members(grp, a);
      score[grp] = score_rows(a);
    }
    for (;;) {
      double best_delta = 1e-9 * std::max(current, 1e-30);
      int bi = -1, bj = -1;
      double best_si = 0, best_sj = 0;
      for (int gi = 0; gi < s_; ++gi)
        for (int gj = gi + 1; gj < s_; ++gj)
          for (int i = 0; i < m_; ++i)
            for (int j = 0; j < m_; ++j) {
              const int ci = gi * m_ + i, cj = gj * m_ + j;
              if (phantom(local[split[ci]]) || phantom(local[split[cj]])) continue;
              members(gi, a);
              members(gj, b);
              std::swap(a[i], b[j]);
              const double si = score_rows(a), sj = score_rows(b);
              if (si + sj - score[gi] - score[gj] > best_delta) {
                best_delta = si + sj - score[gi] - score[gj];
                bi = ci, bj = cj, best_si = si, best_sj = sj;
              }
            }
      if (bi < 0) break;
      std::swap(split[bi], split[bj]);
      score[bi / m_] = best_si;
      score[bj / m_] = best_sj;
    }
    return std::accumulate(score.begin(), score.end(), 0.0);
  }

  void place(std::span<const std::int64_t> stripes, const std::vector<std::int64_t>& arrangement) {
    for (int slot = 0; slot < s_; ++slot) {
      std::copy_n(arrangement.begin() + slot * m_, m_, order_.begin() + stripes[slot] * m_);
      stripe_score_[stripes[slot]] = score_stripe(stripes[slot]);
    }
  }

  // A bounded regression: swap two real rows of two stripes of a random stripe group.
  void escape(std::mt19937_64& rng, std::vector<bool>& touched) {
    const auto stripes = group_stripes(rng() % (groups_.size() / s_));
    const std::int64_t sa = stripes[0];
    const std::int64_t sb = stripes[1 + rng() % (s_ - 1)];
    auto real_position = [&](std::int64_t st) {
      std::int64_t real = 0;  // phantoms sit at the end of the partial stripe
      while (real < m_ && !phantom(order_[st * m_ + real])) ++real;
      return st * m_ + static_cast<std::int64_t>(rng() % real);
    };
    std::swap(order_[real_position(sa)], order_[real_position(sb)]);
    stripe_score_[sa] = score_stripe(sa);
    stripe_score_[sb] = score_stripe(sb);
    touched[sa] = touched[sb] = true;
  }

  std::vector<std::int64_t> finish(std::vector<std::int64_t> order) const {
    order.resize(static_cast<std::size_t>(k_));  // phantoms are all past K
    return order;
  }

  std::int64_t k_, n_;
  int keep_, m_;
  PermutationOptions opt_;
  std::int64_t stripes_ = 0;
  int s_ = 0;  // stripes per group actually used
  bool exhaustive_ = false;
  std::vector<float> rows_;
  std::vector<std::int64_t> order_;
  std::vector<double> stripe_score_;
  std::vector<std::int64_t> groups_;  // stripe groups, s_ stripe indices each
  std::vector<std::uint16_t> partitions_;
};

// Scores of vectors of v columns: the sum of their columns' scores.
HostMatrix column_unit_scores(const HostMatrix& scores, int v) {
  const std::int64_t units = (scores.cols() + v - 1) / v;
  HostMatrix out(scores.rows(), units);
  auto o = out.mutable_values();
  for (std::int64_t k = 0; k < scores.rows(); ++k)
    for (std::int64_t j = 0; j < scores.cols(); ++j) o[k * units + j / v] += scores(k, j);
  return out;
}

double upper_bound(const HostMatrix& scores, int keep, int group) {
  const std::int64_t k = scores.rows();
  const std::int64_t per_column = keep * (k / group) + std::min<std::int64_t>(keep, k % group);
  std::vector<float> col(static_cast<std::size_t>(k));
  double s = 0;
  for (std::int64_t j = 0; j < scores.cols(); ++j) {
    for (std::int64_t r = 0; r < k; ++r) col[r] = scores(r, j);
    // A whole column is long: select with nth_element, not top_sum's passes.
    std::nth_element(col.begin(), col.begin() + per_column, col.end(), std::greater<>());
    s += std::accumulate(col.begin(), col.begin() + per_column, 0.0);
  }
  return s;
}

}  // namespace

double nm_kept_score(const HostMatrix& scores, int keep, int group) {
  require(group >= 2 && keep >= 1 && keep < group, "nm_kept_score",
          "need 1 <= N < M, got N=" + std::to_string(keep) + " M=" + std::to_string(group));
  std::vector<float> buf;
  double s = 0;
  for (std::int64_t j = 0; j < scores.cols(); ++j)
    for (std::int64_t k0 = 0; k0 < scores.rows(); k0 += group) {
      buf.clear();
      for (std::int64_t r = k0; r < std::min<std::int64_t>(k0 + group, scores.rows()); ++r) buf.push_back(scores(r, j));
      s += top_sum(buf, keep);
    }
  return s;
}

PermutationResult search_nm_permutation(const HostMatrix& scores, int keep, int group,
                                        const PermutationOptions& options) {
  const std::string shapes = shape_str({scores.rows(), scores.cols()});
  require(group >= 2 && group <= 256 && keep >= 1 && keep < group, kOp,
          "need 1 <= N < M <= 256, got N=" + std::to_string(keep) + " M=" + std::to_string(group), shapes);
  require(options.stripes_per_group >= 2, kOp,
          "stripes_per_group must be >= 2 (got " + std::to_string(options.stripes_per_group) + ")", shapes);
  require(options.escape_attempts >= 0, kOp, "escape_attempts must be >= 0", shapes);
  require(options.max_exhaustive_partitions >= 1, kOp, "max_exhaustive_partitions must be >= 1", shapes);
  detail::require_valid_scores(scores, kOp);

  PermutationResult r;
  StripeSearch search(scores, keep, group, options);
  r.permutation = search.run(r.escapes_used);
  r.kept_before = nm_kept_score(scores, keep, group);
  r.kept_after = nm_kept_score(permute_rows(scores, r.permutation), keep, group);
  r.upper_bound = upper_bound(scores, keep, group);
  const double gap = r.upper_bound - r.kept_before;
  r.efficacy = gap > 1e-12 * std::max(r.upper_bound, 1e-30) ? (r.kept_after - r.kept_before) / gap : 1.0;
  return r;
}

PermutationResult search_nm_permutation(const HostMatrix& scores, const PatternSpec& spec,
                                        const PermutationOptions& options) {
  spec.check();
  if (spec.pattern == Pattern::sp24) return search_nm_permutation(scores, 2, 4, options);
  require(spec.pattern == Pattern::nm, kOp, "channel permutations apply to nm and 24, not " + spec.describe());
  require(spec.unit != NmUnit::block, kOp,
          spec.describe() + ": block units span " + std::to_string(spec.b) +
              " K rows, which a row permutation would split; permute before blocking or use element/vector units");
  if (spec.unit == NmUnit::vector) {
    detail::require_valid_scores(scores, kOp);
    return search_nm_permutation(column_unit_scores(scores, spec.v), spec.keep, spec.group, options);
  }
  return search_nm_permutation(scores, spec.keep, spec.group, options);
}

void check_permutation(std::span<const std::int64_t> permutation, std::int64_t size, std::string_view what) {
  require(static_cast<std::int64_t>(permutation.size()) == size, what,
          "permutation has " + std::to_string(permutation.size()) + " entries, expected " + std::to_string(size));
  std::vector<bool> seen(static_cast<std::size_t>(size), false);
  for (std::size_t i = 0; i < permutation.size(); ++i) {
    const auto p = permutation[i];
    // Messages are built only on failure (one check per entry).
    if (p < 0 || p >= size)
      throw Error(std::string(what), "permutation entry " + std::to_string(i) + " is " + std::to_string(p) +
                                         ", outside [0, " + std::to_string(size) + ")");
    if (seen[p])
      throw Error(std::string(what), "permutation entry " + std::to_string(i) + " repeats index " + std::to_string(p));
    seen[p] = true;
  }
}

HostMatrix permute_rows(const HostMatrix& m, std::span<const std::int64_t> permutation) {
  check_permutation(permutation, m.rows(), "permute_rows");
  HostMatrix out(m.rows(), m.cols(), m.dtype());
  auto o = out.mutable_values();
  const auto in = m.values();
  for (std::int64_t r = 0; r < m.rows(); ++r)
    std::copy_n(in.begin() + permutation[r] * m.cols(), m.cols(), o.begin() + r * m.cols());
  return out;
}

HostMatrix permute_columns(const HostMatrix& m, std::span<const std::int64_t> permutation) {
  check_permutation(permutation, m.cols(), "permute_columns");
  HostMatrix out(m.rows(), m.cols(), m.dtype());
  auto o = out.mutable_values();
  for (std::int64_t r = 0; r < m.rows(); ++r)
    for (std::int64_t c = 0; c < m.cols(); ++c) o[r * m.cols() + c] = m(r, permutation[c]);
  return out;
}

void permute_layer_pair(HostMatrix& previous, std::vector<float>& previous_bias, HostMatrix& current,
                        std::span<const std::int64_t> permutation) {
  const std::string shapes =
      shape_str({previous.rows(), previous.cols()}) + " -> " + shape_str({current.rows(), current.cols()});
  require(previous.cols() == current.rows(), "permute_layer_pair",
          "the previous layer has " + std::to_string(previous.cols()) + " output features but this layer has K=" +
              std::to_string(current.rows()),
          shapes);
  require(previous_bias.empty() || static_cast<std::int64_t>(previous_bias.size()) == current.rows(),
          "permute_layer_pair",
          "previous bias has " + std::to_string(previous_bias.size()) + " entries, expected " +
              std::to_string(current.rows()),
          shapes);
  check_permutation(permutation, current.rows(), "permute_layer_pair");
  previous = permute_columns(previous, permutation);
  current = permute_rows(current, permutation);
  if (!previous_bias.empty()) {
    std::vector<float> b(previous_bias.size());
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = previous_bias[permutation[i]];
    previous_bias = std::move(b);
  }
}

}  // namespace tilesparse

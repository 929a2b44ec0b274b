#include "tilesparse/formats/weight.hpp"

#include <algorithm>
#include <span>

#include "tilesparse/core/error.hpp"

namespace tilesparse {

namespace {
template <class... Fs>
struct Overloaded : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
Overloaded(Fs...) -> Overloaded<Fs...>;
}  // namespace

Mask PatternMask::combined() const {
  if (residual.keep.empty()) return mask;
  require(residual.rows == mask.rows && residual.cols == mask.cols, "PatternMask::combined",
          "residual shape differs from mask");
  Mask m = mask;
  for (std::size_t i = 0; i < m.keep.size(); ++i) m.keep[i] = m.keep[i] | residual.keep[i];
  return m;
}

Pattern pattern_of(const Weight& w) {
  return std::visit(Overloaded{
                        [](const DenseWeight&) { return Pattern::dense; },
                        [](const EwWeight&) { return Pattern::ew; },
                        [](const BwWeight&) { return Pattern::bw; },
                        [](const NmWeight&) { return Pattern::nm; },
                        [](const Sp24Weight&) { return Pattern::sp24; },
                        [](const TwWeight&) { return Pattern::tw; },
                        [](const TewWeight&) { return Pattern::tew; },
                    },
                    w);
}

std::int64_t k_of(const Weight& w) {
  return std::visit(Overloaded{[](const DenseWeight& x) { return x.k(); }, [](const TewWeight& x) { return x.tw.k; },
                               [](const auto& x) { return x.k; }},
                    w);
}

std::int64_t n_of(const Weight& w) {
  return std::visit(Overloaded{[](const DenseWeight& x) { return x.n(); }, [](const TewWeight& x) { return x.tw.n; },
                               [](const auto& x) { return x.n; }},
                    w);
}

DType dtype_of(const Weight& w) {
  return std::visit(Overloaded{[](const DenseWeight& x) { return x.dtype(); },
                               [](const TewWeight& x) { return x.tw.dtype; }, [](const auto& x) { return x.dtype; }},
                    w);
}

PatternSpec spec_of(const Weight& w) {
  PatternSpec s;
  s.pattern = pattern_of(w);
  std::visit(Overloaded{
                 [&](const BwWeight& x) {
                   s.bk = x.bk;
                   s.bn = x.bn;
                 },
                 [&](const NmWeight& x) {
                   s.keep = x.keep;
                   s.group = x.group;
                   s.unit = x.unit;
                   if (x.unit == NmUnit::vector) s.v = x.unit_cols;
                   if (x.unit == NmUnit::block) s.b = x.unit_rows;
                 },
                 [&](const Sp24Weight&) {
                   s.keep = 2;
                   s.group = 4;
                 },
                 [&](const TwWeight& x) {
                   s.g = x.g;
                   s.column_share = x.column_share;
                 },
                 [&](const TewWeight& x) {
                   s.g = x.tw.g;
                   s.column_share = x.tw.column_share;
                   if (x.delta >= 0) s.delta = x.delta;  // unknown: PatternSpec's default
                 },
                 [](const auto&) {},
             },
             w);
  return s;
}

Weight make_weight(const HostMatrix& w, const PatternMask& pm, const PatternSpec& spec) {
  spec.check();
  const Mask& m = pm.mask;
  require(m.rows == w.rows() && m.cols == w.cols(), "make_weight", "mask shape differs from weight",
          shape_str({w.rows(), w.cols()}) + " vs mask " + shape_str({m.rows, m.cols}));
  switch (spec.pattern) {
    case Pattern::dense: return DenseWeight::from_dense(w, m);
    case Pattern::ew: return EwWeight::from_dense(w, m);
    case Pattern::bw: return BwWeight::from_dense(w, m, spec.bk, spec.bn);
    case Pattern::nm: return NmWeight::from_dense(w, m, spec);
    case Pattern::sp24: return Sp24Weight::from_dense(w, m);
    case Pattern::tw: {
      TwWeight tw = TwWeight::from_dense(w, m, spec.g);
      tw.column_share = spec.column_share;
      return tw;
    }
    case Pattern::tew: {
      Mask residual = pm.residual.keep.empty() ? Mask(w.rows(), w.cols(), false) : pm.residual;
      TewWeight tew = TewWeight::from_dense(w, m, residual, spec.g);
      tew.tw.column_share = spec.column_share;
      tew.delta = spec.delta;
      return tew;
    }
  }
  throw Error("make_weight", "unknown pattern");
}

Validation validate_mask(const Mask& mask, const PatternSpec& spec) {
  spec.check();
  switch (spec.pattern) {
    case Pattern::dense:
    case Pattern::ew: return {};
    case Pattern::bw: return BwWeight::check_mask(mask, spec.bk, spec.bn);
    case Pattern::nm: return NmWeight::check_mask(mask, spec);
    case Pattern::sp24: return Sp24Weight::check_mask(mask);
    case Pattern::tw:
    case Pattern::tew: return TwWeight::check_mask(mask, spec.g);
  }
  return Validation::fail("unknown pattern");
}

Validation validate(const Weight& w) {
  return std::visit([](const auto& x) { return x.validate(); }, w);
}

HostMatrix to_dense(const Weight& w) {
  return std::visit([](const auto& x) { return x.to_dense(); }, w);
}

std::int64_t kept(const Weight& w) {
  return std::visit([](const auto& x) { return x.kept(); }, w);
}

double sparsity(const Weight& w) {
  const double total = static_cast<double>(k_of(w)) * static_cast<double>(n_of(w));
  if (total == 0) return 0.0;
  return 1.0 - static_cast<double>(kept(w)) / total;
}

std::int64_t nonzero_rows(const Weight& w) {
  const HostMatrix d = to_dense(w);
  const std::span<const float> v = d.values();
  std::int64_t rows = 0;
  for (std::int64_t r = 0; r < d.rows(); ++r) {
    const auto row = v.subspan(static_cast<std::size_t>(r * d.cols()), static_cast<std::size_t>(d.cols()));
    rows += std::any_of(row.begin(), row.end(), [](float x) { return x != 0.0f; }) ? 1 : 0;
  }
  return rows;
}

std::size_t bytes(const Weight& w) {
  return std::visit([](const auto& x) { return x.bytes(); }, w);
}

FormatArrays to_arrays(const Weight& w) {
  return std::visit([](const auto& x) { return x.to_arrays(); }, w);
}

Weight weight_from_arrays(const FormatArrays& fa) {
  const Pattern p = parse_pattern(meta_at(fa, "pattern"));
  Weight w = [&]() -> Weight {
    switch (p) {
      case Pattern::dense: return DenseWeight::from_arrays(fa);
      case Pattern::ew: return EwWeight::from_arrays(fa);
      case Pattern::bw: return BwWeight::from_arrays(fa);
      case Pattern::nm: return NmWeight::from_arrays(fa);
      case Pattern::sp24: return Sp24Weight::from_arrays(fa);
      case Pattern::tw: return TwWeight::from_arrays(fa);
      case Pattern::tew: return TewWeight::from_arrays(fa);
    }
    throw Error("weight_from_arrays", "unknown pattern");
  }();
  Validation v = validate(w);
  require(v.ok(), "weight_from_arrays", "stored " + std::string(to_string(p)) + " weight is invalid: " + v.problem);
  return w;
}

}  // namespace tilesparse

#include "tilesparse/formats/nm.hpp"

#include <algorithm>

#include "src/formats/format_arrays.hpp"
#include "src/formats/nm_layout.hpp"
#include "src/formats/structure_checks.hpp"

namespace tilesparse {

namespace detail {

PatternSpec as_nm_spec(const PatternSpec& spec) {
  PatternSpec s = spec;
  if (spec.pattern == Pattern::sp24) {
    s = PatternSpec{};
    s.pattern = Pattern::nm;
    s.keep = 2;
    s.group = 4;
    s.unit = NmUnit::element;
  }
  require(s.pattern == Pattern::nm, "N:M", "pattern " + spec.describe() + " is not an N:M pattern");
  s.check();
  return s;
}

int nm_index_bits(int group) { return group <= 16 ? 4 : 8; }

NmLayout NmLayout::of(const PatternSpec& spec, std::int64_t k, std::int64_t n) {
  const PatternSpec s = as_nm_spec(spec);
  return {k, n, s.keep, s.group, s.unit_rows(), s.unit_cols()};
}

NmLayout NmLayout::of(const NmWeight& w) { return {w.k, w.n, w.keep, w.group, w.unit_rows, w.unit_cols}; }

std::string NmLayout::describe(std::int64_t g, std::int64_t cu) const {
  const Span cols = columns(cu);
  return "group " + std::to_string(g) + " (rows " + std::to_string(g * group_rows()) + ".." +
         std::to_string(std::min(k, (g + 1) * group_rows()) - 1) + "), columns " + std::to_string(cols.begin) + ".." +
         std::to_string(cols.end - 1);
}

}  // namespace detail

namespace {

using detail::NmLayout;
using detail::Span;

Validation check_params(const NmWeight& w) {
  if (auto v = detail::check_dims(w.k, w.n); !v) return v;
  if (w.group < 2 || w.group > 256)
    return Validation::fail("group (M) = " + std::to_string(w.group) + " is outside [2, 256]");
  if (w.keep < 1 || w.keep >= w.group)
    return Validation::fail("keep (N) = " + std::to_string(w.keep) + " must satisfy 1 <= N < M = " +
                            std::to_string(w.group));
  const bool unit_ok = w.unit == NmUnit::element   ? w.unit_rows == 1 && w.unit_cols == 1
                       : w.unit == NmUnit::vector ? w.unit_rows == 1 && w.unit_cols >= 1
                                                  : w.unit_rows >= 1 && w.unit_rows == w.unit_cols;
  if (!unit_ok)
    return Validation::fail("unit " + std::to_string(w.unit_rows) + " x " + std::to_string(w.unit_cols) +
                            " does not fit unit kind '" + std::string(to_string(w.unit)) + "'");
  if (w.index_bits != detail::nm_index_bits(w.group))
    return Validation::fail("index_bits = " + std::to_string(w.index_bits) + ", expected " +
                            std::to_string(detail::nm_index_bits(w.group)) + " for group " + std::to_string(w.group) +
                            " (4 bits when group <= 16, else 8)");
  return {};
}

// The `keep` ascending offsets a group stores: its kept units, then the smallest unused
// offsets as spare slots (their values stay zero).
std::vector<int> slot_offsets(std::vector<int> kept, int keep) {
  for (int o = 0; static_cast<int>(kept.size()) < keep; ++o)
    if (std::find(kept.begin(), kept.end(), o) == kept.end()) kept.push_back(o);
  std::sort(kept.begin(), kept.end());
  return kept;
}

}  // namespace

std::int64_t NmWeight::groups() const { return NmLayout::of(*this).groups(); }

std::int64_t NmWeight::row_bytes() const { return index_bits == 4 ? (column_units() + 1) / 2 : column_units(); }

int NmWeight::index(std::int64_t slot, std::int64_t column_unit) const {
  const std::uint8_t* row = indices.data() + slot * row_bytes();
  if (index_bits == 8) return row[column_unit];
  const std::uint8_t b = row[column_unit / 2];
  return column_unit % 2 ? b >> 4 : b & 0x0f;
}

void NmWeight::set_index(std::int64_t slot, std::int64_t column_unit, int offset) {
  std::uint8_t* row = indices.data() + slot * row_bytes();
  if (index_bits == 8) {
    row[column_unit] = static_cast<std::uint8_t>(offset);
    return;
  }
  std::uint8_t& b = row[column_unit / 2];
  b = column_unit % 2 ? static_cast<std::uint8_t>((b & 0x0f) | (offset << 4))
                      : static_cast<std::uint8_t>((b & 0xf0) | (offset & 0x0f));
}

Validation NmWeight::check_mask(const Mask& mask, const PatternSpec& spec) {
  const NmLayout L = NmLayout::of(spec, mask.rows, mask.cols);
  if (auto v = detail::check_mask_shape(mask); !v) return v;
  for (std::int64_t g = 0; g < L.groups(); ++g) {
    for (std::int64_t cu = 0; cu < L.column_units(); ++cu) {
      const Span cols = L.columns(cu);
      int kept_units = 0;
      for (int o = 0; o < L.units_in_group(g); ++o) {
        const Span rows = L.unit_rows_span(g, o);
        std::int64_t kept = 0;
        for (std::int64_t r = rows.begin; r < rows.end; ++r)
          for (std::int64_t c = cols.begin; c < cols.end; ++c) kept += mask(r, c);
        const std::int64_t size = rows.size() * cols.size();
        if (kept != 0 && kept != size)
          return Validation::fail("unit " + std::to_string(o) + " of " + L.describe(g, cu) + " (rows " +
                                  std::to_string(rows.begin) + ".." + std::to_string(rows.end - 1) + ") keeps " +
                                  std::to_string(kept) + " of its " + std::to_string(size) +
                                  " elements: an N:M unit is kept whole or pruned whole");
        kept_units += kept != 0;
      }
      if (kept_units > L.keep)
        return Validation::fail(L.describe(g, cu) + " keeps " + std::to_string(kept_units) + " units, at most " +
                                std::to_string(L.keep) + " of " + std::to_string(L.group) + " allowed");
    }
  }
  return {};
}

NmWeight NmWeight::from_dense(const HostMatrix& w, const Mask& mask, const PatternSpec& spec) {
  const PatternSpec s = detail::as_nm_spec(spec);
  const std::string shapes = shape_str({w.rows(), w.cols()}) + " " + s.describe();
  require(mask.rows == w.rows() && mask.cols == w.cols(), "NmWeight::from_dense", "mask shape differs from weight",
          shapes + " vs mask " + shape_str({mask.rows, mask.cols}));
  require(w.rows() <= detail::kMaxDim && w.cols() <= detail::kMaxDim, "NmWeight::from_dense", "weight too large",
          shapes);
  if (auto v = check_mask(mask, s); !v) throw Error("NmWeight::from_dense", v.problem, shapes);
  NmWeight out;
  out.k = w.rows();
  out.n = w.cols();
  out.dtype = w.dtype();
  out.keep = s.keep;
  out.group = s.group;
  out.unit = s.unit;
  out.unit_rows = s.unit_rows();
  out.unit_cols = s.unit_cols();
  out.index_bits = detail::nm_index_bits(s.group);
  out.values.assign(static_cast<std::size_t>(out.slots() * out.unit_rows * out.n), 0.0f);
  out.indices.assign(static_cast<std::size_t>(out.slots() * out.row_bytes()), 0);
  const NmLayout L = NmLayout::of(out);
  for (std::int64_t g = 0; g < L.groups(); ++g) {
    for (std::int64_t cu = 0; cu < L.column_units(); ++cu) {
      const Span cols = L.columns(cu);
      std::vector<int> kept;
      // check_mask made units all-or-nothing, so a unit's first element decides.
      for (int o = 0; o < L.units_in_group(g); ++o)
        if (mask(L.unit_start(g, o), cols.begin)) kept.push_back(o);
      const std::vector<int> offsets = slot_offsets(kept, out.keep);
      for (int t = 0; t < out.keep; ++t) {
        const std::int64_t slot = g * out.keep + t;
        const int o = offsets[t];
        out.set_index(slot, cu, o);
        if (std::find(kept.begin(), kept.end(), o) == kept.end()) continue;
        const Span rows = L.unit_rows_span(g, o);
        for (std::int64_t r = rows.begin; r < rows.end; ++r)
          for (std::int64_t c = cols.begin; c < cols.end; ++c)
            out.values[(slot * out.unit_rows + r - rows.begin) * out.n + c] = w(r, c);
      }
    }
  }
  return out;
}

Validation NmWeight::validate() const {
  if (auto v = check_params(*this); !v) return v;
  std::int64_t want = 0;
  if (!detail::checked_product({slots(), unit_rows, n}, want) || static_cast<std::int64_t>(values.size()) != want)
    return Validation::fail("values has " + std::to_string(values.size()) + " entries, expected slots x unit_rows x n = " +
                            std::to_string(slots()) + " x " + std::to_string(unit_rows) + " x " + std::to_string(n));
  if (!detail::checked_product({slots(), row_bytes()}, want) || static_cast<std::int64_t>(indices.size()) != want)
    return Validation::fail("indices has " + std::to_string(indices.size()) + " bytes, expected slots x row_bytes = " +
                            std::to_string(slots()) + " x " + std::to_string(row_bytes()));
  if (index_bits == 4 && column_units() % 2 == 1) {
    for (std::int64_t s = 0; s < slots(); ++s) {
      const int pad = indices[(s + 1) * row_bytes() - 1] >> 4;
      if (pad != 0)
        return Validation::fail("indices row of slot " + std::to_string(s) + ": the unused high nibble of its last byte is " +
                                std::to_string(pad) + ", expected 0");
    }
  }
  const NmLayout L = NmLayout::of(*this);
  for (std::int64_t g = 0; g < L.groups(); ++g) {
    for (std::int64_t cu = 0; cu < L.column_units(); ++cu) {
      const Span cols = L.columns(cu);
      int previous = -1;
      for (int t = 0; t < keep; ++t) {
        const std::int64_t slot = g * keep + t;
        const int o = index(slot, cu);
        // Built only on failure: this loop visits every slot of every column unit.
        const auto where = [&] {
          return "slot " + std::to_string(t) + " of " + L.describe(g, cu) + " (indices[" + std::to_string(slot) +
                 "][" + std::to_string(cu) + "])";
        };
        if (o >= group)
          return Validation::fail(where() + " holds offset " + std::to_string(o) + ", outside the group of " +
                                  std::to_string(group));
        if (o <= previous)
          return Validation::fail(where() + " holds offset " + std::to_string(o) + " after offset " +
                                  std::to_string(previous) + ": offsets must be strictly ascending (no duplicates)");
        previous = o;
        // Rows of the unit past K are not in the matrix and must hold zeros.
        for (std::int64_t r = std::max(k, L.unit_start(g, o)); r < L.unit_start(g, o) + unit_rows; ++r)
          for (std::int64_t c = cols.begin; c < cols.end; ++c) {
            const float x = values[(slot * unit_rows + r - L.unit_start(g, o)) * n + c];
            if (x != 0.0f)
              return Validation::fail(where() + ": offset " + std::to_string(o) + " reaches row " + std::to_string(r) +
                                      ", past K = " + std::to_string(k) + ", yet holds " + std::to_string(x) +
                                      " at column " + std::to_string(c) + " (must be zero)");
          }
      }
    }
  }
  return detail::check_representable(values, dtype, "values");
}

HostMatrix NmWeight::to_dense() const {
  HostMatrix w(k, n, dtype);
  auto out = w.mutable_values();
  const NmLayout L = NmLayout::of(*this);
  for (std::int64_t slot = 0; slot < slots(); ++slot) {
    const std::int64_t g = slot / keep;
    for (std::int64_t cu = 0; cu < L.column_units(); ++cu) {
      const Span rows = L.unit_rows_span(g, index(slot, cu)), cols = L.columns(cu);
      const std::int64_t start = L.unit_start(g, index(slot, cu));
      for (std::int64_t r = rows.begin; r < rows.end; ++r)
        for (std::int64_t c = cols.begin; c < cols.end; ++c)
          out[r * n + c] = values[(slot * unit_rows + r - start) * n + c];
    }
  }
  return w;
}

std::int64_t NmWeight::kept() const { return detail::count_nonzero(values); }

std::size_t NmWeight::bytes() const { return values.size() * size_of(dtype) + indices.size(); }

FormatArrays NmWeight::to_arrays() const {
  FormatArrays fa = detail::make_format_arrays(Pattern::nm, k, n, dtype);
  // Not spec.params(): its "n" (= keep) would collide with the weight's N.
  fa.meta["keep"] = std::to_string(keep);
  fa.meta["group"] = std::to_string(group);
  fa.meta["unit"] = std::string(to_string(unit));
  if (unit == NmUnit::vector) fa.meta["v"] = std::to_string(unit_cols);
  if (unit == NmUnit::block) fa.meta["b"] = std::to_string(unit_rows);
  fa.meta["index_bits"] = std::to_string(index_bits);
  fa.arrays["values"] = detail::values_tensor(values, dtype, {slots() * unit_rows, n});
  fa.arrays["indices"] = Tensor::from_vector(indices, {slots(), row_bytes()});
  return fa;
}

NmWeight NmWeight::from_arrays(const FormatArrays& fa) {
  const auto h = detail::read_header(fa, Pattern::nm);
  NmWeight w;
  w.k = h.k;
  w.n = h.n;
  w.dtype = h.dtype;
  w.keep = static_cast<int>(detail::meta_int_at_most(fa, "keep", 255));
  w.group = static_cast<int>(detail::meta_int_at_most(fa, "group", 256));
  w.unit = parse_nm_unit(meta_at(fa, "unit"));
  const int side = w.unit == NmUnit::element ? 1
                   : static_cast<int>(detail::meta_int_at_most(fa, w.unit == NmUnit::vector ? "v" : "b",
                                                               detail::kMaxDim));
  w.unit_rows = w.unit == NmUnit::block ? side : 1;
  w.unit_cols = side;
  w.index_bits = static_cast<int>(detail::meta_int_at_most(fa, "index_bits", 8));
  // Shapes below are computed from these parameters, so they must be sane first.
  if (auto v = check_params(w); !v) throw Error("from_arrays", "nm metadata: " + v.problem);
  w.values = detail::read_values(fa, "values", h.dtype, {w.slots() * w.unit_rows, w.n});
  w.indices = detail::read_array<std::uint8_t>(fa, "indices", {w.slots(), w.row_bytes()});
  return w;
}

}  // namespace tilesparse

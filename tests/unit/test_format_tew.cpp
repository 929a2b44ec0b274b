// Tile-element-wise format (TW + CSR residual) and projector: round trips,
// serialization, the no-overlap rule, projector properties, and the reference matmul.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <functional>
#include <tuple>
#include <utility>
#include <vector>

#include "test_util.hpp"
#include "tilesparse/core/error.hpp"
#include "tilesparse/formats/weight.hpp"
#include "tilesparse/prune/project.hpp"

namespace tilesparse {
namespace {

PatternSpec tew_spec(std::int64_t g, double delta) {
  PatternSpec s;
  s.pattern = Pattern::tew;
  s.g = g;
  s.delta = delta;
  return s;
}

PatternMask project_tew(std::int64_t k, std::int64_t n, std::int64_t g, double s, double delta, std::uint64_t seed) {
  return project(magnitude_scores(HostMatrix::random(k, n, DType::f32, seed)), tew_spec(g, delta), s);
}

void expect_error(const std::function<void()>& fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

void expect_invalid(const TewWeight& w, const std::string& needle) {
  const Validation v = w.validate();
  ASSERT_FALSE(v.ok()) << "expected a problem mentioning '" << needle << "'";
  EXPECT_NE(v.problem.find(needle), std::string::npos) << v.problem;
}

TewWeight make_tew(const HostMatrix& w, std::int64_t g, double s, double delta, std::uint64_t seed) {
  const PatternMask pm = project_tew(w.rows(), w.cols(), g, s, delta, seed);
  return TewWeight::from_dense(w, pm.mask, pm.residual, g);
}

TEST(TewFormat, RoundTripsOnOddShapes) {
  const std::int64_t shapes[][3] = {{1, 1, 1}, {7, 5, 2}, {33, 17, 4}, {20, 6, 16}, {0, 5, 2}, {5, 0, 3}, {64, 40, 8}};
  for (DType dt : {DType::f32, DType::f16, DType::bf16}) {
    for (auto [k, n, g] : shapes) {
      const HostMatrix w = HostMatrix::random(k, n, dt, 3 + k * n);
      const PatternMask pm = project_tew(k, n, g, 0.6, 0.1, 5 + k);
      const TewWeight tew = TewWeight::from_dense(w, pm.mask, pm.residual, g);
      ASSERT_TRUE(tew.validate().ok()) << tew.validate().problem;
      EXPECT_EQ(tew.to_dense(), apply_mask(w, pm.combined())) << k << "x" << n << " g" << g;
      EXPECT_EQ(tew.kept(), nonzero_mask(apply_mask(w, pm.combined())).kept());
      EXPECT_EQ(tew.bytes(), tew.tw.bytes() + tew.residual.bytes());
      const FormatArrays fa = tew.to_arrays();
      EXPECT_EQ(fa.meta.at("pattern"), "tew");
      EXPECT_TRUE(fa.arrays.contains("residual.k_idx"));
      EXPECT_EQ(TewWeight::from_arrays(fa), tew);
      EXPECT_EQ(std::get<TewWeight>(weight_from_arrays(fa)), tew);
    }
  }
}

TEST(TewFormat, ResidualMustNotOverlapTheTiles) {
  const HostMatrix w = HostMatrix::random(8, 6, DType::f32, 2);
  const PatternMask pm = project_tew(8, 6, 2, 0.5, 0.1, 3);
  Mask residual = pm.residual;
  std::int64_t r = 0, c = 0;
  for (std::int64_t i = 0; i < 48; ++i)
    if (pm.mask.keep[i]) {
      r = i / 6;
      c = i % 6;
      residual.keep[i] = 1;
      break;
    }
  expect_error([&] { TewWeight::from_dense(w, pm.mask, residual, 2); },
               "residual element (" + std::to_string(r) + ", " + std::to_string(c) + ") is also in the TW structure");
  // The same overlap crafted into a weight: validate names it.
  TewWeight tew = TewWeight::from_dense(w, pm.mask, pm.residual, 2);
  tew.residual = EwWeight::from_dense(w, residual);
  expect_invalid(tew, "residual element (" + std::to_string(r) + ", " + std::to_string(c) + ") overlaps");
}

TEST(TewFormat, ValidateRejectsCraftedViolations) {
  const TewWeight good = make_tew(HostMatrix::random(12, 10, DType::f16, 1), 4, 0.5, 0.1, 2);
  ASSERT_TRUE(good.validate().ok());
  ASSERT_GT(good.residual.k_idx.size(), 0u);
  TewWeight w = good;
  w.tw.col_map[0] = 99;
  expect_invalid(w, "tw: col_map[0] = 99");
  w = good;
  w.residual.k_idx[0] = 12;
  expect_invalid(w, "residual: ");
  w = good;
  w.residual = EwWeight::from_dense(HostMatrix::random(12, 9, DType::f16, 1), Mask(12, 9, false));
  expect_invalid(w, "residual shape [12x9]");
  w = good;
  w.residual = EwWeight::from_dense(HostMatrix::random(12, 10, DType::bf16, 1), Mask(12, 10, false));
  expect_invalid(w, "residual dtype bf16");
}

TEST(TewFormat, FromArraysRejectsMalformedArrays) {
  const FormatArrays good = make_tew(HostMatrix::random(12, 10, DType::f32, 1), 4, 0.5, 0.1, 2).to_arrays();
  FormatArrays fa = good;
  fa.arrays.erase("residual.row_ptr");
  expect_error([&] { TewWeight::from_arrays(fa); }, "row_ptr");
  fa = good;
  fa.arrays.erase("row_idx");
  expect_error([&] { TewWeight::from_arrays(fa); }, "row_idx");
  fa = good;
  fa.arrays["residual.values"] = Tensor::from_vector(std::vector<std::int32_t>(good.arrays.at("residual.values").numel()),
                                                     {good.arrays.at("residual.values").numel()});
  expect_error([&] { TewWeight::from_arrays(fa); }, "values");
  for (const char* bad : {"x", "1.5", "-0.1", "0.1 "}) {
    fa = good;
    fa.meta["delta"] = bad;
    expect_error([&] { TewWeight::from_arrays(fa); }, "metadata 'delta'");
    fa = good;
    fa.meta["column_share"] = bad;
    expect_error([&] { TewWeight::from_arrays(fa); }, "metadata 'column_share'");
  }
}

// The pruning parameters that shaped a weight (δ, the column share) survive its
// serialized form; a weight built without them reads back without them.
TEST(TewFormat, PruningParametersRoundTrip) {
  const HostMatrix w = HostMatrix::random(24, 20, DType::f32, 4);
  const PatternSpec spec = PatternSpec::from_params("tew", {{"g", "4"}, {"delta", "0.125"}, {"column_share", "0.3"}});
  const Weight pruned = prune_magnitude(w, spec, 0.6);
  const TewWeight& tew = std::get<TewWeight>(pruned);
  EXPECT_EQ(tew.delta, 0.125);
  EXPECT_EQ(tew.tw.column_share, 0.3);
  const TewWeight back = TewWeight::from_arrays(tew.to_arrays());
  EXPECT_EQ(back.delta, 0.125);
  EXPECT_EQ(back.tw.column_share, 0.3);
  EXPECT_EQ(spec_of(Weight(back)), spec);
  const TewWeight plain = TewWeight::from_dense(w, Mask(24, 20, true), Mask(24, 20, false), 4);
  const FormatArrays plain_arrays = plain.to_arrays();
  EXPECT_FALSE(plain_arrays.meta.contains("delta"));
  EXPECT_FALSE(plain_arrays.meta.contains("column_share"));
  EXPECT_EQ(TewWeight::from_arrays(plain_arrays).delta, -1);
}

// The merged TW weight holds the same matrix, keeps every TW and residual element, and is
// a valid TW weight (the TW weight itself when there is no residual); residual entries in
// columns the TW part prunes entirely (s = 0.9: most columns) become kept columns of it.
TEST(TewFormat, MergedTwWeightHoldsTheSameMatrix) {
  for (const auto& [k, n, g, s, delta] : {std::tuple{37, 29, 8, 0.5, 0.1}, std::tuple{64, 130, 32, 0.9, 0.02},
                                           std::tuple{100, 70, 128, 0.75, 0.05}, std::tuple{16, 16, 4, 0.3, 0.0}}) {
    for (DType dt : {DType::f32, DType::f16, DType::bf16}) {
      const TewWeight tew = make_tew(HostMatrix::random(k, n, dt, 90 + k), g, s, delta, 91 + n);
      const TwWeight merged = tew.merged();
      ASSERT_TRUE(merged.validate().ok()) << merged.validate().problem;
      EXPECT_EQ(merged.g, g);
      EXPECT_EQ(merged.dtype, dt);
      const HostMatrix want = tew.to_dense(), got = merged.to_dense();
      ASSERT_EQ(got.rows(), want.rows());
      ASSERT_EQ(got.cols(), want.cols());
      EXPECT_TRUE(std::ranges::equal(got.values(), want.values())) << "k=" << k << " n=" << n << " g=" << g;
      const Mask structure = merged.structure(), tw_structure = tew.tw.structure();
      for (std::int64_t r = 0; r < k; ++r)
        for (std::int64_t j = 0; j < n; ++j)
          if (tw_structure(r, j)) EXPECT_TRUE(structure(r, j)) << "TW element (" << r << ", " << j << ") dropped";
      for (std::int64_t j = 0; j < n; ++j)
        for (std::int64_t e = tew.residual.row_ptr[j]; e < tew.residual.row_ptr[j + 1]; ++e)
          EXPECT_TRUE(structure(tew.residual.k_idx[e], j)) << "residual element dropped";
      if (delta == 0.0) EXPECT_EQ(merged, tew.tw);
      if (s == 0.9) EXPECT_GT(merged.col_map.size(), tew.tw.col_map.size()) << "no residual entry in a pruned column";
    }
  }
}

// merged() as first written, through the dense image: the TW structure plus the residual
// as a K x N mask, each group of g kept columns widened to the union of its columns'
// rows, then TwWeight::from_dense. The reference the sparse merge must match bit for bit.
TwWeight merged_through_dense(const TewWeight& tew) {
  Mask mask = tew.tw.structure();
  for (std::int64_t j = 0; j < tew.residual.n; ++j)
    for (std::int64_t i = tew.residual.row_ptr[j]; i < tew.residual.row_ptr[j + 1]; ++i)
      mask.set(tew.residual.k_idx[i], j, true);
  const std::vector<std::int64_t> kept_columns = mask.kept_columns();
  const auto columns = static_cast<std::int64_t>(kept_columns.size());
  for (std::int64_t c0 = 0; c0 < columns; c0 += tew.tw.g) {
    const std::int64_t c1 = std::min(columns, c0 + tew.tw.g);
    for (std::int64_t r = 0; r < mask.rows; ++r) {
      bool any = false;
      for (std::int64_t c = c0; c < c1 && !any; ++c) any = mask(r, kept_columns[c]);
      if (any)
        for (std::int64_t c = c0; c < c1; ++c) mask.set(r, kept_columns[c], true);
    }
  }
  return TwWeight::from_dense(tew.to_dense(), mask, tew.tw.g);
}

// tew with a residual valued from `other` that also holds every third TW element (an
// overlap validate() rejects, which merged() resolves as to_dense() does: the residual
// wins) and one element in every other column the TW structure lacks.
TewWeight with_extra_residual(TewWeight tew, const HostMatrix& other) {
  const Mask structure = tew.tw.structure();
  Mask residual(tew.residual.k, tew.residual.n, false);
  for (std::int64_t j = 0; j < residual.cols; ++j)
    for (std::int64_t i = tew.residual.row_ptr[j]; i < tew.residual.row_ptr[j + 1]; ++i)
      residual.set(tew.residual.k_idx[i], j, true);
  for (std::size_t i = 0, structure_elements = 0; i < structure.keep.size(); ++i)
    if (structure.keep[i] && structure_elements++ % 3 == 0) residual.keep[i] = 1;
  for (std::int64_t j = 0; j < residual.cols && residual.rows > 0; j += 2) {
    bool in_structure = false;
    for (std::int64_t r = 0; r < structure.rows && !in_structure; ++r) in_structure = structure(r, j);
    if (!in_structure) residual.set((j * 7) % residual.rows, j, true);
  }
  tew.residual = EwWeight::from_dense(other, residual);
  return tew;
}

// tew with TW tile t emptied of rows: valid, though from_dense never builds it; its
// columns stay in col_map but hold no element.
TewWeight with_empty_tile(TewWeight tew, std::int64_t t) {
  TwWeight& tw = tew.tw;
  const std::int64_t rows = tw.kept_rows(t), values = tw.value_ptr[t + 1] - tw.value_ptr[t];
  tw.row_idx.erase(tw.row_idx.begin() + tw.row_ptr[t], tw.row_idx.begin() + tw.row_ptr[t + 1]);
  tw.values.erase(tw.values.begin() + tw.value_ptr[t], tw.values.begin() + tw.value_ptr[t + 1]);
  for (std::int64_t u = t + 1; u <= tw.tiles(); ++u) {
    tw.row_ptr[u] -= rows;
    tw.value_ptr[u] -= values;
  }
  return tew;
}

std::vector<std::uint32_t> bits_of(const std::vector<float>& values) {
  std::vector<std::uint32_t> bits(values.size());
  std::ranges::transform(values, bits.begin(), [](float v) { return std::bit_cast<std::uint32_t>(v); });
  return bits;
}

void expect_identical(const TwWeight& got, const TwWeight& want, const std::string& what) {
  EXPECT_EQ(got.k, want.k) << what;
  EXPECT_EQ(got.n, want.n) << what;
  EXPECT_EQ(got.g, want.g) << what;
  EXPECT_EQ(got.dtype, want.dtype) << what;
  EXPECT_EQ(got.col_map, want.col_map) << what;
  EXPECT_EQ(got.row_ptr, want.row_ptr) << what;
  EXPECT_EQ(got.row_idx, want.row_idx) << what;
  EXPECT_EQ(got.value_ptr, want.value_ptr) << what;
  EXPECT_EQ(bits_of(got.values), bits_of(want.values)) << what;
  EXPECT_EQ(got.column_share, want.column_share) << what;
}

// merged() builds, from the stored elements alone, the very arrays the dense-image merge
// gives, also for residuals on TW elements, in columns the TW part prunes, and beside
// empty tiles.
TEST(TewFormat, MergedMatchesTheDenseImageMerge) {
  const std::int64_t shapes[][3] = {{37, 29, 8}, {64, 130, 32}, {20, 6, 16}, {50, 41, 3}, {1, 1, 1}, {0, 5, 2}, {5, 0, 3}};
  bool saw_overlap = false, saw_new_column = false;
  for (DType dt : {DType::f32, DType::f16, DType::bf16})
    for (auto [k, n, g] : shapes)
      for (double s : {0.0, 0.5, 0.9, 1.0})
        for (double delta : {0.0, 0.05, 0.2}) {
          const TewWeight tew = make_tew(HostMatrix::random(k, n, dt, 7 + k + n), g, s, delta, 8 + k);
          std::vector<std::pair<std::string, TewWeight>> variants = {
              {"projected", tew}, {"extra residual", with_extra_residual(tew, HostMatrix::random(k, n, dt, 9 + n))}};
          if (tew.tw.tiles() > 0) variants.emplace_back("empty tile", with_empty_tile(tew, tew.tw.tiles() / 2));
          for (const auto& [variant, w] : variants) {
            const std::string what = std::string(to_string(dt)) + " " + std::to_string(k) + "x" + std::to_string(n) +
                                     " g" + std::to_string(g) + " s" + std::to_string(s) + " delta" +
                                     std::to_string(delta) + " " + variant;
            const TwWeight merged = w.merged();
            expect_identical(merged, merged_through_dense(w), what);
            saw_overlap |= !w.validate().ok();
            saw_new_column |= std::ranges::any_of(merged.col_map, [&](std::int32_t j) {
              return !std::ranges::binary_search(w.tw.col_map, j);
            });
          }
        }
  EXPECT_TRUE(saw_overlap) << "no residual on a TW element";
  EXPECT_TRUE(saw_new_column) << "no residual in a column the TW part prunes";
}

TEST(TewProject, TilesAtSPlusDeltaThenRestoresTheBestPrunedElements) {
  const std::int64_t shapes[][3] = {{37, 29, 8}, {16, 5, 8}, {9, 40, 3}, {64, 64, 16}};
  for (auto [k, n, g] : shapes)
    for (double s : {0.0, 0.3, 0.75, 0.9})
      for (double delta : {0.0, 0.05, 0.2}) {
        const HostMatrix scores = magnitude_scores(HostMatrix::random(k, n, DType::f32, 40 + k));
        const PatternMask pm = project(scores, tew_spec(g, delta), s);
        ASSERT_TRUE(validate_mask(pm.mask, tew_spec(g, delta)).ok());
        // The tile part is exactly TW at s + delta.
        PatternSpec tw = tew_spec(g, delta);
        tw.pattern = Pattern::tw;
        EXPECT_EQ(pm.mask, project(scores, tw, std::min(1.0, s + delta)).mask);
        std::int64_t overlap = 0;
        double min_restored = INFINITY, max_left = -INFINITY;
        for (std::int64_t i = 0; i < k * n; ++i) {
          overlap += pm.mask.keep[i] && pm.residual.keep[i];
          const float v = scores.values()[i];
          if (pm.residual.keep[i]) min_restored = std::min<double>(min_restored, v);
          else if (!pm.mask.keep[i]) max_left = std::max<double>(max_left, v);
        }
        EXPECT_EQ(overlap, 0);
        EXPECT_LE(max_left, min_restored) << "restored elements must be the best pruned ones";
        // delta*K*N restored (fewer when s + delta is capped at 1) and s met, each within
        // one row of a tile.
        const double kn = static_cast<double>(k * n);
        EXPECT_LE(std::fabs(static_cast<double>(pm.residual.kept()) - std::min(delta, 1.0 - s) * kn),
                  static_cast<double>(g));
        EXPECT_LE(std::fabs(static_cast<double>(pm.combined().kept()) - (1.0 - s) * kn), static_cast<double>(g));
        EXPECT_EQ(project(scores, tew_spec(g, delta), s).residual, pm.residual) << "not deterministic";
      }
}

TEST(TewProject, CapsTheTileSparsityAtOne) {
  const PatternMask pm = project_tew(20, 10, 4, 0.97, 0.05, 9);
  EXPECT_EQ(pm.mask.kept(), 0);
  EXPECT_EQ(pm.residual.kept(), 6);  // round(0.03 * 200) kept, all in the residual
  const PatternMask all = project_tew(20, 10, 4, 1.0, 0.05, 9);
  EXPECT_EQ(all.combined().kept(), 0);
}

TEST(TewMatmul, MatchesDenseForEveryDtypeAndOddShapes) {
  const std::int64_t shapes[][4] = {{7, 96, 40, 16}, {1, 1, 1, 1}, {5, 33, 17, 4}, {3, 20, 6, 16}, {4, 0, 6, 2}, {4, 6, 0, 2}, {9, 50, 7, 3}};
  for (DType dt : {DType::f32, DType::f16, DType::bf16})
    for (auto [m, k, n, g] : shapes)
      test::expect_matches_dense(Weight(make_tew(HostMatrix::random(k, n, dt, 5 + k + n), g, 0.5, 0.1, 6 + k)), m,
                                 21 + m);
}

}  // namespace
}  // namespace tilesparse

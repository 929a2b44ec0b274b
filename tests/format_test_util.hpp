#pragma once
// Helpers shared by the format tests: round trips (dense and serialized), and
// expectations that a check fails with a message naming the offence.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "test_util.hpp"
#include "tilesparse/core/error.hpp"
#include "tilesparse/formats/weight.hpp"

namespace tilesparse::test {

inline constexpr DType kAllDTypes[] = {DType::f32, DType::f16, DType::bf16};

// Expects fn to throw tilesparse::Error whose message contains `needle`.
inline void expect_error_mentioning(const std::function<void()>& fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "no error thrown; expected one mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

// Expects a failed Validation whose problem contains `needle`.
inline void expect_problem(const Validation& v, const std::string& needle) {
  ASSERT_FALSE(v.ok()) << "expected a problem mentioning '" << needle << "'";
  EXPECT_NE(v.problem.find(needle), std::string::npos) << v.problem;
}

// from_dense(w, mask) gives back exactly apply_mask(w, mask), validates, counts the
// kept nonzeros, and survives to_arrays -> from_arrays (direct and through
// weight_from_arrays) bit for bit.
template <class W>
void expect_round_trips(const W& sparse, const HostMatrix& w, const Mask& mask) {
  const HostMatrix want = apply_mask(w, mask);
  ASSERT_TRUE(sparse.validate()) << sparse.validate().problem;
  EXPECT_EQ(sparse.to_dense(), want);
  EXPECT_EQ(sparse.to_dense().dtype(), w.dtype());
  EXPECT_EQ(sparse.kept(), nonzero_mask(want).kept());
  const FormatArrays fa = sparse.to_arrays();
  EXPECT_EQ(W::from_arrays(fa), sparse);
  EXPECT_EQ(std::get<W>(weight_from_arrays(fa)), sparse);
}

}  // namespace tilesparse::test

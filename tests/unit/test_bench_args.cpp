// tilesparse-bench's list parsing: the sparsity sweep word, ranges, repeats, bad fields
// named in the error, forced kernels, the epilogue choice.
#include <gtest/gtest.h>

#include "bench/bench_args.hpp"
#include "format_test_util.hpp"

namespace tilesparse::bench {
namespace {

TEST(BenchArgs, SplitDropsEmptyFieldsAndSpaces) {
  EXPECT_EQ(split(" a, b ,,c,"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(split("").empty());
  EXPECT_TRUE(listed({}, "x"));
  EXPECT_FALSE(listed({"a"}, "x"));
}

TEST(BenchArgs, SparsitiesTakeZeroOneAndTheSweepWord) {
  EXPECT_EQ(parse_sparsities("0,0.5,1", "--sparsities"), (std::vector<double>{0, 0.5, 1}));
  const auto sweep = parse_sparsities("sweep", "--sparsities");
  ASSERT_EQ(sweep.size(), 13u);  // the paper's 12 and 0.75
  EXPECT_DOUBLE_EQ(sweep.front(), 0.0);
  EXPECT_DOUBLE_EQ(sweep[7], 0.7);
  EXPECT_DOUBLE_EQ(sweep[8], 0.75);
  EXPECT_DOUBLE_EQ(sweep[10], 0.9);
  EXPECT_DOUBLE_EQ(sweep.back(), 0.99);
  EXPECT_TRUE(std::is_sorted(sweep.begin(), sweep.end()));
  // Repeats go, first order kept.
  EXPECT_EQ(parse_sparsities("0.75,sweep", "--sparsities").size(), 13u);
  EXPECT_EQ(parse_sparsities("0.75,sweep", "--sparsities").front(), 0.75);
  EXPECT_EQ(parse_sparsities("0.33,sweep", "--sparsities").size(), 14u);
  EXPECT_EQ(parse_sparsities("0.5,0.5", "--sparsities").size(), 1u);
}

TEST(BenchArgs, BadSparsitiesNameTheFieldAndFlag) {
  for (const char* bad : {"1.5", "-0.1", "abc", "0.5x", "nan", ""}) {
    try {
      parse_sparsities(bad, "--sparsities");
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("--sparsities"), std::string::npos) << e.what();
    }
  }
}

TEST(BenchArgs, GroupsArePositiveIntegers) {
  EXPECT_EQ(parse_positive_ints("32,64,128,64", "--groups"), (std::vector<std::int64_t>{32, 64, 128}));
  EXPECT_EQ(parse_positive_ints("1024,4096,1024", "--chain-dims", true), (std::vector<std::int64_t>{1024, 4096, 1024}));
  EXPECT_THROW(parse_positive_ints("0", "--groups"), Error);
  EXPECT_THROW(parse_positive_ints("32,6.5", "--groups"), Error);
  EXPECT_THROW(parse_positive_ints("-32", "--groups"), Error);
  EXPECT_THROW(parse_positive_ints(",", "--groups"), Error);
}

TEST(BenchArgs, NamesMustBeKnown) {
  const std::vector<std::string> layouts = {"row_major", "transposed"};
  EXPECT_EQ(parse_names("transposed,row_major,transposed", layouts, "--layouts"),
            (std::vector<std::string>{"transposed", "row_major"}));
  try {
    parse_names("row_major,colmajor", layouts, "--layouts");
    FAIL();
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("colmajor"), std::string::npos) << msg;
    EXPECT_NE(msg.find("row_major, transposed"), std::string::npos) << msg;
  }
}

TEST(BenchArgs, ForcedKernelsOnePerPattern) {
  const auto pattern_of = [](const std::string& name) -> std::optional<Pattern> {
    if (name == "cuda.tw.mma" || name == "cuda.tw.wgmma") return Pattern::tw;
    if (name == "cuda.tew.mma") return Pattern::tew;
    return std::nullopt;
  };
  EXPECT_TRUE(parse_forced_kernels("", pattern_of, "--kernel").empty());
  const auto forced = parse_forced_kernels("cuda.tw.mma, cuda.tew.mma,cuda.tw.mma", pattern_of, "--kernel");
  EXPECT_EQ(forced, (std::map<Pattern, std::string>{{Pattern::tw, "cuda.tw.mma"}, {Pattern::tew, "cuda.tew.mma"}}));
  test::expect_error_mentioning([&] { parse_forced_kernels("cuda.tw.mma,cuda.tw.wgmma", pattern_of, "--kernel"); },
                                 "cuda.tw.mma and cuda.tw.wgmma are both kernels of pattern tw");
  test::expect_error_mentioning([&] { parse_forced_kernels("cuda.tw.fast", pattern_of, "--kernel"); },
                                "--kernel: unknown kernel 'cuda.tw.fast'");
  // The real table: its reference entries exist in every build.
  EXPECT_EQ(parse_forced_kernels("ref.tw", kernel_pattern, "--kernel").at(Pattern::tw), "ref.tw");
  EXPECT_THROW(parse_forced_kernels("ref.nope", kernel_pattern, "--kernel"), Error);
}

TEST(BenchArgs, Epilogues) {
  EXPECT_FALSE(parse_epilogue("none").bias);
  EXPECT_EQ(parse_epilogue("bias-gelu").activation, Activation::gelu);
  EXPECT_TRUE(parse_epilogue("bias-relu").bias);
  EXPECT_EQ(parse_epilogue("bias").activation, Activation::none);
  EXPECT_THROW(parse_epilogue("relu"), Error);
}

}  // namespace
}  // namespace tilesparse::bench

// `tilesparse prune` end to end: every pattern per layer and under --global, the
// BERT-base-shaped timing check of the issue, --exclude, --scores, --permute, and bad
// input rejected with a message and no output file.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

struct Result {
  int code;
  std::string output;
};

Result run(const std::string& args) {
  const std::string cmd = std::string(TILESPARSE_CLI_PATH) + " " + args + " 2>&1";
  std::FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return {-1, "popen failed"};
  std::string out;
  std::array<char, 4096> buf{};
  while (std::size_t n = std::fread(buf.data(), 1, buf.size(), pipe)) out.append(buf.data(), n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

class CliPrune : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tilesparse_cli_prune_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

// Per weight of the prune table: target and achieved sparsity (as shares) and kept |w|.
struct Row {
  std::string target;
  double achieved = -1, kept = -1;
};

std::map<std::string, Row> table_rows(const std::string& out) {
  std::map<std::string, Row> rows;
  const std::regex row(R"((\S+)\s+\d+ x \d+\s+(\S+)\s+([0-9.]+)%\s+([0-9.]+)%)");
  for (auto it = std::sregex_iterator(out.begin(), out.end(), row); it != std::sregex_iterator(); ++it)
    rows[(*it)[1]] = {(*it)[2], std::stod((*it)[3]) / 100, std::stod((*it)[4]) / 100};
  return rows;
}

// A .safetensors of F32 tensors, written by hand (shape [rows, cols]).
void write_f32(const std::string& file, const std::map<std::string, std::pair<std::vector<std::int64_t>, std::vector<float>>>& t) {
  std::string header = "{";
  std::size_t offset = 0;
  for (const auto& [name, st] : t) {
    if (header.size() > 1) header += ",";
    header += "\"" + name + "\":{\"dtype\":\"F32\",\"shape\":[" + std::to_string(st.first[0]) + "," +
              std::to_string(st.first[1]) + "],\"data_offsets\":[" + std::to_string(offset) + "," +
              std::to_string(offset + st.second.size() * 4) + "]}";
    offset += st.second.size() * 4;
  }
  header += "}";
  header += std::string((8 - header.size() % 8) % 8, ' ');
  std::ofstream f(file, std::ios::binary);
  const std::uint64_t len = header.size();
  f.write(reinterpret_cast<const char*>(&len), 8);
  f << header;
  for (const auto& [name, st] : t) f.write(reinterpret_cast<const char*>(st.second.data()), st.second.size() * 4);
}

TEST_F(CliPrune, EveryPatternPerLayerAndGlobalChecks) {
  ASSERT_EQ(run("generate " + path("m.safetensors") + " --layers 256x192 192x320 320x100 --seed 4").code, 0);
  const char* cases[] = {"--pattern ew --sparsity 0.7",
                         "--pattern bw --sparsity 0.7 --bk 16 --bn 16",
                         "--pattern nm --n 2 --m 8",
                         "--pattern nm --n 1 --m 4 --unit vector --v 4",
                         "--pattern 24",
                         "--pattern tw --sparsity 0.7 --g 32",
                         "--pattern tew --sparsity 0.7 --g 32 --delta 0.05"};
  for (const std::string flags : cases) {
    for (const std::string mode : {"", " --global"}) {
      if (!mode.empty() && flags.find("sparsity") == std::string::npos) continue;  // N:M fixes it
      SCOPED_TRACE(flags + mode);
      const Result r = run("prune " + path("m.safetensors") + " -o " + path("p.safetensors") + " " + flags + mode);
      ASSERT_EQ(r.code, 0) << r.output;
      const auto rows = table_rows(r.output);
      ASSERT_EQ(rows.size(), 3u) << r.output;
      const Result insp = run("inspect --check " + path("p.safetensors"));
      ASSERT_EQ(insp.code, 0) << insp.output;
      EXPECT_NE(insp.output.find("check: all 3 weight(s) valid"), std::string::npos) << insp.output;
      EXPECT_NE(r.output.find("overall sparsity of the pruned weights"), std::string::npos);
      if (flags.find("sparsity") != std::string::npos && mode.empty()) {
        for (const auto& [name, row] : rows) EXPECT_NEAR(row.achieved, 0.7, 0.01) << name;
      }
      if (!mode.empty()) {
        EXPECT_NE(r.output.find("overall sparsity of the pruned weights 70.0"), std::string::npos) << r.output;
      }
    }
  }
}

// The issue's check: a 12-layer BERT-base-shaped model (Q, K, V, O 768x768, FFN1
// 768x3072, FFN2 3072x768; random weights) pruned with --global to TW G=128 at 75% in
// under a minute, with per-layer sparsities that differ.
TEST_F(CliPrune, BertBaseGlobalTwUnderAMinute) {
  std::string layers;
  for (int i = 0; i < 12; ++i) layers += " 768x768 768x768 768x768 768x768 768x3072 3072x768";
  ASSERT_EQ(run("generate " + path("bert.safetensors") + " --layers" + layers + " --seed 1").code, 0);
  const auto start = std::chrono::steady_clock::now();
  const Result r = run("prune " + path("bert.safetensors") + " --pattern tw --g 128 --sparsity 0.75 --global -o " +
                       path("p.safetensors"));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_LT(seconds, 60.0);
  std::cout << "[ timing ] prune --global tw g=128 75% on 12-layer BERT-base shapes: " << seconds << " s\n";
  const auto rows = table_rows(r.output);
  ASSERT_EQ(rows.size(), 72u) << r.output;
  std::set<double> distinct;
  for (const auto& [name, row] : rows) distinct.insert(row.achieved);
  EXPECT_GT(distinct.size(), 10u) << r.output;
  EXPECT_NE(r.output.find("overall sparsity of the pruned weights 75.00%"), std::string::npos) << r.output;
}

TEST_F(CliPrune, LayerCeilingBoundsGlobalSparsity) {
  // Generated FFN2-like layers (K = 512) have smaller weights than the others, so plain
  // global ranking prunes them hardest.
  ASSERT_EQ(run("generate " + path("m.safetensors") + " --layers 128x512 512x128 --seed 2").code, 0);
  const Result r = run("prune " + path("m.safetensors") + " -o " + path("p.safetensors") +
                       " --pattern ew --sparsity 0.6 --global --layer-ceiling 0.7");
  ASSERT_EQ(r.code, 0) << r.output;
  for (const auto& [name, row] : table_rows(r.output)) EXPECT_LE(row.achieved, 0.7 + 1e-4) << name;
  EXPECT_NE(r.output.find("overall sparsity of the pruned weights 60.00%"), std::string::npos) << r.output;
}

TEST_F(CliPrune, ExcludeKeepsLayersDense) {
  ASSERT_EQ(run("generate " + path("m.safetensors") + " --layers 64x48 48x32 32x10 --seed 5").code, 0);
  const Result r = run("prune " + path("m.safetensors") + " -o " + path("p.safetensors") +
                       " --pattern ew --sparsity 0.5 --global --exclude layers.0.weight layers.2.weight");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto rows = table_rows(r.output);
  EXPECT_EQ(rows.at("layers.0.weight").target, "excluded");
  EXPECT_EQ(rows.at("layers.0.weight").achieved, 0);
  EXPECT_NEAR(rows.at("layers.1.weight").achieved, 0.5, 1e-4);  // the whole budget lands on the ranked layer
  const Result insp = run("inspect --check " + path("p.safetensors"));
  ASSERT_EQ(insp.code, 0) << insp.output;
  EXPECT_NE(insp.output.find("check: all 1 weight(s) valid"), std::string::npos) << insp.output;
}

TEST_F(CliPrune, UserScoresDecide) {
  // w (in_out, 2 x 4) = 1..8; scores rank it backwards, so EW 50% keeps 1..4.
  write_f32(path("m.safetensors"), {{"w", {{2, 4}, {1, 2, 3, 4, 5, 6, 7, 8}}}});
  write_f32(path("s.safetensors"), {{"w", {{2, 4}, {8, 7, 6, 5, 4, 3, 2, 1}}}});
  const std::string base = "prune " + path("m.safetensors") + " -o " + path("p.safetensors") +
                           " --layout in_out --pattern ew --sparsity 0.5";
  const Result mag = run(base);
  ASSERT_EQ(mag.code, 0) << mag.output;
  EXPECT_NEAR(table_rows(mag.output).at("w").kept, 26.0 / 36, 1e-3) << mag.output;
  const Result user = run(base + " --scores " + path("s.safetensors"));
  ASSERT_EQ(user.code, 0) << user.output;
  EXPECT_NEAR(table_rows(user.output).at("w").kept, 10.0 / 36, 1e-3) << user.output;

  write_f32(path("bad.safetensors"), {{"w", {{2, 4}, {1, 1, 1, -1, 1, 1, 1, 1}}}});
  fs::remove(path("p.safetensors"));
  const Result neg = run(base + " --scores " + path("bad.safetensors"));
  EXPECT_GE(neg.code, 1);
  EXPECT_NE(neg.output.find("(0, 3)"), std::string::npos) << neg.output;
  EXPECT_FALSE(fs::exists(path("p.safetensors")));
  write_f32(path("other.safetensors"), {{"v", {{2, 4}, {1, 1, 1, 1, 1, 1, 1, 1}}}});
  const Result missing = run(base + " --scores " + path("other.safetensors"));
  EXPECT_GE(missing.code, 1);
  EXPECT_NE(missing.output.find("no tensor named 'w'"), std::string::npos) << missing.output;
}

TEST_F(CliPrune, PermuteReportsEfficacyAndSavesThePermutation) {
  ASSERT_EQ(run("generate " + path("m.safetensors") + " --layers 64x32 64x16 --seed 6").code, 0);
  const Result r = run("prune " + path("m.safetensors") + " -o " + path("p.safetensors") + " --pattern 24 --permute");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("perm. efficacy"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("previous layer"), std::string::npos) << r.output;
  const Result plain = run("prune " + path("m.safetensors") + " -o " + path("q.safetensors") + " --pattern 24");
  ASSERT_EQ(plain.code, 0) << plain.output;
  // The permuted order keeps at least as much magnitude.
  for (const auto& [name, row] : table_rows(r.output))
    EXPECT_GE(row.kept, table_rows(plain.output).at(name).kept) << name;
  const Result insp = run("inspect --check " + path("p.safetensors"));
  ASSERT_EQ(insp.code, 0) << insp.output;
  EXPECT_NE(insp.output.find("layers.0.weight.k_permutation"), std::string::npos) << insp.output;
  EXPECT_NE(insp.output.find("check: all 2 weight(s) valid"), std::string::npos) << insp.output;
}

TEST_F(CliPrune, BadInputNamesTheProblemAndWritesNothing) {
  ASSERT_EQ(run("generate " + path("m.safetensors") + " --layers 64x32").code, 0);
  auto expect_error = [&](const std::string& flags, const std::string& needle) {
    const Result r = run("prune " + path("m.safetensors") + " -o " + path("out.safetensors") + " " + flags);
    EXPECT_GE(r.code, 1) << flags;
    EXPECT_NE(r.output.find(needle), std::string::npos) << flags << "\n" << r.output;
    EXPECT_FALSE(fs::exists(path("out.safetensors"))) << "partial output left by: " << flags;
  };
  expect_error("--pattern tw --sparsity 0.5 --permute", "--permute is for nm and 24");
  expect_error("--pattern ew --sparsity 0.5 --exclude nothere", "'nothere'");
  expect_error("--pattern 24 --global", "--global needs --sparsity");
  expect_error("--pattern tw", "sparsity is required");
  expect_error("--pattern ew --sparsity 0.5 --layout sideways", "sideways");
  expect_error("--pattern ew --sparsity 0.5 --global --layer-ceiling 0.2", "floors/ceilings allow");

  write_f32(path("nan.safetensors"), {{"w", {{2, 4}, {1, 2, 3, 4, 5, std::numeric_limits<float>::quiet_NaN(), 7, 8}}}});
  const Result r = run("prune " + path("nan.safetensors") + " -o " + path("out.safetensors") + " --pattern ew --sparsity 0.5");
  EXPECT_GE(r.code, 1);
  EXPECT_NE(r.output.find("prune w"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("nan"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(path("out.safetensors")));
}

}  // namespace

// Model files: weights of every pattern round-trip exactly through safetensors; plain
// tensors and user metadata pass through; damaged weights and orphaned arrays are
// errors naming the weight; plain tensors become K x N matrices by layout.
#include <nlohmann/json.hpp>
#include <optional>

#include "tests/io_test_util.hpp"
#include "tilesparse/io/model.hpp"
#include "tilesparse/prune/project.hpp"

namespace tilesparse {
namespace {

using test::expect_error;
using test::random_tensor;

Model dense_model() {
  Model m;
  m.weights["fc1.weight"] = DenseWeight{HostMatrix::random(7, 5, DType::f32, 1)};
  m.weights["enc/fc2.weight"] = DenseWeight{HostMatrix::random(3, 9, DType::bf16, 2)};
  m.weights["empty"] = DenseWeight{HostMatrix(0, 4, DType::f16)};
  m.others["fc1.bias"] = random_tensor(ElemType::f32, {5}, 3);
  m.others["dense/kernel"] = random_tensor(ElemType::f16, {2, 2}, 4);
  m.others["step"] = random_tensor(ElemType::i64, {}, 5);
  m.metadata = {{"format", "pt"}, {"note", "x"}};
  return m;
}

TEST(Model, DenseRoundTripsExactly) {
  const Model m = dense_model();
  EXPECT_EQ(model_from_safetensors(model_to_safetensors(m)), m);
  EXPECT_EQ(model_from_safetensors(parse_safetensors(serialize_safetensors(model_to_safetensors(m)))), m);
}

TEST(Model, FileLayout) {
  const SafetensorsFile f = model_to_safetensors(dense_model());
  EXPECT_EQ(f.metadata.at("tilesparse.format_version"), "1");
  EXPECT_EQ(f.metadata.at("format"), "pt");
  const auto meta = nlohmann::json::parse(f.metadata.at("tilesparse.fc1.weight"));
  EXPECT_EQ(meta.at("pattern"), "dense");
  EXPECT_EQ(meta.at("k"), "7");
  EXPECT_EQ(meta.at("n"), "5");
  EXPECT_EQ(f.tensors.at("fc1.weight/values").shape, (std::vector<std::int64_t>{7, 5}));
  EXPECT_TRUE(f.tensors.contains("enc/fc2.weight/values"));
  EXPECT_EQ(f.tensors.at("fc1.bias"), dense_model().others.at("fc1.bias"));
}

TEST(Model, EveryPatternRoundTripsExactly) {
  struct Case {
    const char* pattern;
    std::map<std::string, std::string> params;
    std::optional<double> sparsity;
  };
  const std::vector<Case> cases = {
      {"dense", {}, std::nullopt},
      {"ew", {}, 0.7},
      {"bw", {{"bk", "4"}, {"bn", "8"}}, 0.5},
      {"nm", {{"n", "2"}, {"m", "4"}, {"unit", "element"}}, std::nullopt},
      {"nm", {{"n", "1"}, {"m", "4"}, {"unit", "vector"}, {"v", "4"}}, std::nullopt},
      {"nm", {{"n", "2"}, {"m", "8"}, {"unit", "block"}, {"b", "2"}}, std::nullopt},
      {"24", {}, std::nullopt},
      {"tw", {{"g", "8"}}, 0.6},
      {"tew", {{"g", "8"}, {"delta", "0.1"}}, 0.6},
  };
  const DType dtypes[] = {DType::f32, DType::f16, DType::bf16};
  Model m;
  std::uint64_t seed = 100;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const PatternSpec spec = PatternSpec::from_params(cases[i].pattern, cases[i].params);
    for (const auto& [k, n] : {std::pair<std::int64_t, std::int64_t>{37, 29}, {16, 3}, {1, 1}}) {
      const DType dt = dtypes[seed % 3];
      const std::string name = "layer" + std::to_string(i) + "_" + std::to_string(k) + "x" + std::to_string(n);
      m.weights[name] = prune_magnitude(HostMatrix::random(k, n, dt, seed++), spec, cases[i].sparsity);
    }
  }
  m.others["bias"] = random_tensor(ElemType::f32, {29}, 1);
  m.metadata["origin"] = "test";
  const Model back = model_from_safetensors(parse_safetensors(serialize_safetensors(model_to_safetensors(m))));
  ASSERT_EQ(back.weights.size(), m.weights.size());
  for (const auto& [name, w] : m.weights) {
    ASSERT_TRUE(back.weights.contains(name)) << name;
    EXPECT_EQ(pattern_of(back.weights.at(name)), pattern_of(w)) << name;
    EXPECT_EQ(spec_of(back.weights.at(name)), spec_of(w)) << name;
    EXPECT_EQ(to_dense(back.weights.at(name)), to_dense(w)) << name;
    EXPECT_TRUE(back.weights.at(name) == w) << name;
  }
  EXPECT_EQ(back, m);
}

// A saved dense model, changed by `edit`, then read back.
Model reload_edited(const std::function<void(SafetensorsFile&)>& edit) {
  SafetensorsFile f = model_to_safetensors(dense_model());
  edit(f);
  return model_from_safetensors(f);
}

TEST(ModelErrors, MissingArrayNamesTheWeight) {
  expect_error([] { reload_edited([](SafetensorsFile& f) { f.tensors.erase("fc1.weight/values"); }); },
               {"weight 'fc1.weight'", "values"});
}

TEST(ModelErrors, MalformedArrayNamesTheWeight) {
  expect_error([] { reload_edited([](SafetensorsFile& f) { f.tensors["fc1.weight/values"] = random_tensor(ElemType::i32, {7, 5}, 1); }); },
               {"weight 'fc1.weight'", "values"});
  expect_error([] { reload_edited([](SafetensorsFile& f) { f.tensors["fc1.weight/values"] = random_tensor(ElemType::f32, {5, 7}, 1); }); },
               {"weight 'fc1.weight'"});
}

TEST(ModelErrors, InvalidWeightNamesTheWeight) {
  // An ew weight whose row pointers run backwards fails validation.
  Model m;
  m.weights["sparse"] = prune_magnitude(HostMatrix::random(6, 4, DType::f32, 7), PatternSpec::from_params("ew", {}), 0.5);
  SafetensorsFile f = model_to_safetensors(m);
  auto ptr = f.tensors.at("sparse/row_ptr").to_vector<std::int64_t>();
  std::swap(ptr[1], ptr[3]);
  f.tensors["sparse/row_ptr"] = Tensor::from_vector(ptr, {static_cast<std::int64_t>(ptr.size())});
  expect_error([&] { model_from_safetensors(f); }, {"weight 'sparse'"});
}

TEST(ModelErrors, BadWeightMetadataNamesTheWeight) {
  expect_error([] { reload_edited([](SafetensorsFile& f) { f.metadata["tilesparse.fc1.weight"] = "{not json"; }); },
               {"weight 'fc1.weight'", "not a JSON object of strings"});
  expect_error([] { reload_edited([](SafetensorsFile& f) { f.metadata["tilesparse.fc1.weight"] = "[1]"; }); },
               {"weight 'fc1.weight'", "not a JSON object of strings"});
  expect_error([] { reload_edited([](SafetensorsFile& f) { f.metadata["tilesparse.fc1.weight"] = R"({"pattern":"dense","k":7})"; }); },
               {"weight 'fc1.weight'", "key 'k'"});
  expect_error([] { reload_edited([](SafetensorsFile& f) { f.metadata["tilesparse.fc1.weight"] = R"({"pattern":"csr"})"; }); },
               {"weight 'fc1.weight'", "csr"});
  expect_error([] { reload_edited([](SafetensorsFile& f) { f.metadata["tilesparse.ghost"] = R"({"pattern":"dense","k":"1","n":"1","dtype":"f32"})"; }); },
               {"weight 'ghost'", "values"});
}

TEST(ModelErrors, ArraysWithoutMetadataAreNamed) {
  expect_error([] { reload_edited([](SafetensorsFile& f) { f.metadata.erase("tilesparse.fc1.weight"); }); },
               {"tensor 'fc1.weight/values'", "metadata 'tilesparse.fc1.weight'", "missing"});
}

TEST(ModelErrors, UnsupportedFormatVersion) {
  expect_error([] { reload_edited([](SafetensorsFile& f) { f.metadata["tilesparse.format_version"] = "2"; }); },
               {"tilesparse.format_version '2'"});
}

TEST(ModelErrors, WriterRefusesWhatWouldReadBackDifferently) {
  Model m = dense_model();
  m.metadata["tilesparse.mine"] = "x";
  expect_error([&] { model_to_safetensors(m); }, {"'tilesparse.mine'", "reserved prefix"});
  m = dense_model();
  m.others["fc1.weight/extra"] = random_tensor(ElemType::f32, {1}, 1);
  expect_error([&] { model_to_safetensors(m); }, {"tensor 'fc1.weight/extra'", "array of weight 'fc1.weight'"});
  m = dense_model();
  m.others["scope/values"] = random_tensor(ElemType::f32, {1}, 1);
  expect_error([&] { model_to_safetensors(m); }, {"tensor 'scope/values'"});
  m = dense_model();
  m.weights["format_version"] = DenseWeight{HostMatrix::random(1, 1, DType::f32, 1)};
  expect_error([&] { model_to_safetensors(m); }, {"format_version"});
}

TEST(Model, PlainCheckpointLoadsAsOthers) {
  SafetensorsFile f;
  f.tensors["fc.weight"] = random_tensor(ElemType::f32, {4, 3}, 1);
  f.tensors["fc.bias"] = random_tensor(ElemType::f32, {4}, 2);
  f.metadata["format"] = "pt";
  const Model m = model_from_safetensors(f);
  EXPECT_TRUE(m.weights.empty());
  EXPECT_EQ(m.others, f.tensors);
  EXPECT_EQ(m.metadata, f.metadata);
}

TEST(Layout, ParsesBothNames) {
  EXPECT_EQ(parse_layout("out_in"), Layout::out_in);
  EXPECT_EQ(parse_layout("in_out"), Layout::in_out);
  expect_error([] { parse_layout("sideways"); }, {"unknown layout 'sideways'", "out_in"});
}

TEST(Layout, WeightMatrixTransposesOutIn) {
  // PyTorch Linear(in=3, out=2): weight [2, 3].
  const Tensor t = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  const HostMatrix kn = weight_matrix(t, Layout::out_in, "fc.weight");
  ASSERT_EQ(kn.rows(), 3);
  ASSERT_EQ(kn.cols(), 2);
  EXPECT_EQ(kn(0, 1), 4.0f);
  EXPECT_EQ(kn(2, 0), 3.0f);
  const HostMatrix same = weight_matrix(t, Layout::in_out, "fc.weight");
  EXPECT_EQ(same.rows(), 2);
  EXPECT_EQ(same(0, 2), 3.0f);
  const Tensor h = to_tensor(HostMatrix::random(4, 5, DType::bf16, 3));
  EXPECT_EQ(weight_matrix(h, Layout::out_in, "h").dtype(), DType::bf16);
  EXPECT_EQ(weight_matrix(h, Layout::out_in, "h"), to_matrix(h).transposed());
}

TEST(Layout, WeightMatrixRejectsNon2dAndNonFloat) {
  expect_error([] { weight_matrix(random_tensor(ElemType::f32, {2, 3, 4}, 1), Layout::out_in, "conv.weight"); },
               {"conv.weight", "2-d"});
  expect_error([] { weight_matrix(random_tensor(ElemType::f32, {4}, 1), Layout::in_out, "fc.bias"); }, {"fc.bias", "2-d"});
  expect_error([] { weight_matrix(random_tensor(ElemType::i32, {2, 2}, 1), Layout::out_in, "ids"); },
               {"ids", "floating-point", "I32"});
}

class ModelFiles : public test::TempDirTest {};

TEST_F(ModelFiles, SaveThenLoadRoundTrips) {
  save_model(path("m.safetensors"), dense_model());
  EXPECT_EQ(load_model(path("m.safetensors")), dense_model());
  EXPECT_EQ(listing(), std::vector<std::string>{"m.safetensors"});
}

TEST_F(ModelFiles, LoadErrorsNameFileAndWeight) {
  SafetensorsFile f = model_to_safetensors(dense_model());
  f.tensors.erase("fc1.weight/values");
  write_safetensors(path("broken.safetensors"), f);
  expect_error([&] { load_model(path("broken.safetensors")); }, {"broken.safetensors", "weight 'fc1.weight'"});
  expect_error([&] { load_model(path("none.safetensors")); }, {"none.safetensors", "cannot open"});
}

TEST_F(ModelFiles, RefusedSaveLeavesTheOldFile) {
  save_model(path("m.safetensors"), dense_model());
  Model bad = dense_model();
  bad.metadata["tilesparse.x"] = "y";
  EXPECT_THROW(save_model(path("m.safetensors"), bad), Error);
  EXPECT_EQ(load_model(path("m.safetensors")), dense_model());
  EXPECT_EQ(listing(), std::vector<std::string>{"m.safetensors"});
}

}  // namespace
}  // namespace tilesparse

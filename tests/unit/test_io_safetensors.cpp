// safetensors reading and writing: round trips of every element type, the reference
// writer's byte layout, one test per malformed-header case (each checks that the
// message names the problem), a fuzz pass over truncated and corrupted files, and
// atomic writes that never leave a partial file or a temporary behind.
#include <sys/stat.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "tests/io_test_util.hpp"
#include "tilesparse/io/file.hpp"
#include "tilesparse/io/safetensors.hpp"

namespace tilesparse {
namespace {

using test::expect_error;
using test::random_tensor;
using test::to_bytes;

// A file from a header text and `data_size` bytes of data (0xAB), as another writer
// might produce it; no padding is added so headers are exactly what the test says.
std::vector<std::byte> craft(std::string_view header, std::size_t data_size) {
  std::vector<std::byte> out(8);
  const std::uint64_t len = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::byte>((len >> (8 * i)) & 0xff);
  const auto h = to_bytes(header);
  out.insert(out.end(), h.begin(), h.end());
  out.insert(out.end(), data_size, std::byte{0xab});
  return out;
}

void expect_rejected(std::string_view header, std::size_t data_size, std::initializer_list<std::string_view> needles) {
  const auto bytes = craft(header, data_size);
  expect_error([&] { parse_safetensors(bytes, "bad.safetensors"); }, needles);
  expect_error([&] { parse_safetensors(bytes, "bad.safetensors"); }, {"bad.safetensors"});
}

SafetensorsFile sample() {
  SafetensorsFile f;
  f.tensors["b.weight"] = random_tensor(ElemType::f32, {3, 5}, 1);
  f.tensors["a.bias"] = random_tensor(ElemType::bf16, {5}, 2);
  f.tensors["c/idx"] = random_tensor(ElemType::i64, {4}, 3);
  f.metadata["format"] = "pt";
  f.metadata["note"] = "ünïcode";
  return f;
}

TEST(Safetensors, RoundTripsEveryElementType) {
  SafetensorsFile f;
  std::uint64_t seed = 10;
  for (const ElemType t : test::kAllElemTypes) {
    f.tensors["t_" + std::string(to_string(t))] = random_tensor(t, {3, 7}, seed++);
    f.tensors["odd_" + std::string(to_string(t))] = random_tensor(t, {1, 2, 3}, seed++);
  }
  EXPECT_EQ(parse_safetensors(serialize_safetensors(f)), f);
}

TEST(Safetensors, RoundTripsEmptyAndScalarTensorsAndMetadata) {
  SafetensorsFile f;
  f.tensors["empty"] = Tensor{ElemType::f32, {0, 4}, {}};
  f.tensors["empty2"] = Tensor{ElemType::i8, {5, 0}, {}};
  f.tensors["scalar"] = random_tensor(ElemType::f64, {}, 4);
  f.tensors["z"] = random_tensor(ElemType::u16, {2}, 5);
  f.metadata = {{"a", ""}, {"b", "{\"json\": [1]}"}, {"tilesparse.x", "y"}};
  const SafetensorsFile back = parse_safetensors(serialize_safetensors(f));
  EXPECT_EQ(back, f);
  EXPECT_EQ(back.tensors.at("scalar").numel(), 1);
  EXPECT_TRUE(back.tensors.at("scalar").shape.empty());
}

TEST(Safetensors, RoundTripsAnEmptyFile) {
  const SafetensorsFile f;
  EXPECT_EQ(parse_safetensors(serialize_safetensors(f)), f);
}

TEST(Safetensors, WriterLayoutFollowsTheReference) {
  const auto bytes = serialize_safetensors(sample());
  std::uint64_t len = 0;
  std::memcpy(&len, bytes.data(), 8);
  EXPECT_EQ(len % 8, 0u);
  const std::string text(reinterpret_cast<const char*>(bytes.data() + 8), len);
  EXPECT_EQ(text.rfind("{\"__metadata__\":", 0), 0u) << text;
  const auto header = nlohmann::ordered_json::parse(text);
  std::vector<std::string> names;
  std::uint64_t offset = 0;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") continue;
    names.push_back(name);
    EXPECT_EQ(entry["data_offsets"][0].get<std::uint64_t>(), offset) << name;
    offset = entry["data_offsets"][1].get<std::uint64_t>();
  }
  EXPECT_EQ(names, (std::vector<std::string>{"a.bias", "b.weight", "c/idx"}));
  EXPECT_EQ(bytes.size(), 8 + len + offset);
}

TEST(Safetensors, WriterMatchesReferenceBytes) {
  // safetensors.torch.save_file({"a": torch.tensor([1.0, 2.0])}) writes exactly this.
  SafetensorsFile f;
  f.tensors["a"] = Tensor::from_vector<float>({1.0f, 2.0f}, {2});
  const std::string header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  std::vector<std::byte> want = craft(header + std::string((8 - header.size() % 8) % 8, ' '), 0);
  want.insert(want.end(), f.tensors["a"].bytes.begin(), f.tensors["a"].bytes.end());
  EXPECT_EQ(serialize_safetensors(f), want);
}

TEST(Safetensors, ReadsOtherWritersOrderAndMetadataNull) {
  // Entries out of offset order, __metadata__ last and null, no padding.
  const auto bytes = craft(R"({"y":{"dtype":"U8","shape":[2],"data_offsets":[3,5]},)"
                           R"("x":{"dtype":"I8","shape":[3],"data_offsets":[0,3]},"__metadata__":null})",
                           5);
  const SafetensorsFile f = parse_safetensors(bytes);
  EXPECT_EQ(f.tensors.at("x").shape, std::vector<std::int64_t>{3});
  EXPECT_EQ(f.tensors.at("y").bytes.size(), 2u);
  EXPECT_TRUE(f.metadata.empty());
}

TEST(Safetensors, WriterRejectsWhatItCouldNotReadBack) {
  SafetensorsFile f;
  f.tensors["short"] = Tensor{ElemType::f32, {2, 2}, std::vector<std::byte>(15)};
  expect_error([&] { serialize_safetensors(f); }, {"tensor 'short'", "15 bytes", "needs 16"});
  f.tensors.clear();
  f.tensors["__metadata__"] = Tensor{ElemType::f32, {0}, {}};
  expect_error([&] { serialize_safetensors(f); }, {"__metadata__"});
  f.tensors.clear();
  f.tensors["bad\xff"] = Tensor{ElemType::f32, {0}, {}};
  expect_error([&] { serialize_safetensors(f); }, {"UTF-8"});
}

// ---- malformed files: one test per problem -------------------------------------------

TEST(SafetensorsMalformed, ShorterThanTheLengthField) {
  for (std::size_t n = 0; n < 8; ++n) {
    const std::vector<std::byte> bytes(n);
    expect_error([&] { parse_safetensors(bytes, "tiny.st"); }, {"tiny.st", "fewer than the 8-byte header length"});
  }
}

TEST(SafetensorsMalformed, HeaderLengthOverTheLimit) {
  std::vector<std::byte> bytes(16, std::byte{0});
  const std::uint64_t len = kMaxSafetensorsHeader + 1;
  std::memcpy(bytes.data(), &len, 8);
  expect_error([&] { parse_safetensors(bytes, "f"); }, {"header length", "exceeds the limit"});
  std::memset(bytes.data(), 0xff, 8);
  expect_error([&] { parse_safetensors(bytes, "f"); }, {"header length 18446744073709551615", "exceeds the limit"});
}

TEST(SafetensorsMalformed, HeaderLengthBeyondTheFile) {
  auto bytes = craft("{}", 0);
  bytes[0] = std::byte{3};
  expect_error([&] { parse_safetensors(bytes, "f"); }, {"header length 3 exceeds the 2 bytes after it"});
}

TEST(SafetensorsMalformed, HeaderNotJson) {
  expect_rejected(R"({"a":{"dtype":"F32",)", 0, {"header is not valid JSON"});
  expect_rejected("{} trailing", 0, {"header is not valid JSON"});
  expect_rejected("{\"\xff\":1}", 0, {"header is not valid JSON"});
  expect_rejected("", 0, {"header is not valid JSON"});
}

TEST(SafetensorsMalformed, HeaderNotAnObject) {
  expect_rejected("[1, 2]", 0, {"header is not a JSON object", "array"});
  expect_rejected("42", 0, {"header is not a JSON object"});
}

TEST(SafetensorsMalformed, EntryNotAnObject) {
  expect_rejected(R"({"w":[1,2]})", 0, {"tensor 'w'", "entry is not an object"});
}

TEST(SafetensorsMalformed, MissingFields) {
  expect_rejected(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", 4, {"tensor 'w' has no 'dtype'"});
  expect_rejected(R"({"w":{"dtype":"F32","data_offsets":[0,4]}})", 4, {"tensor 'w' has no 'shape'"});
  expect_rejected(R"({"w":{"dtype":"F32","shape":[1]}})", 4, {"tensor 'w' has no 'data_offsets'"});
}

TEST(SafetensorsMalformed, FieldsOfWrongJsonType) {
  expect_rejected(R"({"w":{"dtype":7,"shape":[1],"data_offsets":[0,4]}})", 4, {"tensor 'w'", "'dtype' is not a string"});
  expect_rejected(R"({"w":{"dtype":"F32","shape":1,"data_offsets":[0,4]}})", 4, {"tensor 'w'", "'shape' is not an array"});
  expect_rejected(R"({"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4, {"shape[0] is not an integer"});
  expect_rejected(R"({"w":{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}})", 4, {"shape[0] is not an integer"});
  expect_rejected(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}})", 4, {"'data_offsets' is not an array of two"});
  expect_rejected(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":{"a":0}}})", 4, {"'data_offsets' is not an array of two"});
  expect_rejected(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,"4"]}})", 4, {"data_offsets[1] is not an integer"});
}

TEST(SafetensorsMalformed, UnknownDtype) {
  expect_rejected(R"({"w":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}})", 1, {"tensor 'w'", "'F8_E4M3'"});
  expect_rejected(R"({"w":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}})", 4, {"tensor 'w'", "'f32'"});
}

TEST(SafetensorsMalformed, NegativeDimension) {
  expect_rejected(R"({"w":{"dtype":"F32","shape":[2,-3],"data_offsets":[0,0]}})", 0, {"tensor 'w'", "shape[1] = -3 is negative"});
}

TEST(SafetensorsMalformed, ShapeProductOverflows) {
  // Each dimension fits in int64; the product (and its bytes) does not.
  expect_rejected(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", 0,
                  {"tensor 'w'", "overflows int64"});
  expect_rejected(R"({"w":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,0]}})", 0,
                  {"tensor 'w'", "overflows int64"});
  // A zero dimension makes any product empty, even after huge ones.
  expect_rejected(R"({"w":{"dtype":"F32","shape":[9223372036854775807,0],"data_offsets":[0,4]}})", 4,
                  {"tensor 'w'", "span 4 bytes", "needs 0"});
  expect_rejected(R"({"w":{"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,0]}})", 0,
                  {"shape[0] = 18446744073709551615 is too large"});
}

TEST(SafetensorsMalformed, OffsetsEndBeforeBegin) {
  expect_rejected(R"({"w":{"dtype":"U8","shape":[0],"data_offsets":[4,2]}})", 4, {"tensor 'w'", "[4, 2] end before they begin"});
}

TEST(SafetensorsMalformed, OffsetsBeyondTheData) {
  expect_rejected(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 7,
                  {"tensor 'w'", "extend beyond the data section (7 bytes)"});
  expect_rejected(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[9223372036854775800,9223372036854775807]}})", 8,
                  {"tensor 'w'", "extend beyond the data section"});
}

TEST(SafetensorsMalformed, OffsetsDisagreeWithShape) {
  expect_rejected(R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}})", 12,
                  {"tensor 'w'", "span 12 bytes", "F32 [2x2] needs 16"});
}

TEST(SafetensorsMalformed, OverlappingTensors) {
  expect_rejected(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}})",
                  6, {"tensor 'b'", "overlaps tensor 'a'"});
  // The same bytes claimed twice.
  expect_rejected(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"I8","shape":[4],"data_offsets":[0,4]}})",
                  4, {"overlaps tensor"});
}

TEST(SafetensorsMalformed, GapBetweenTensors) {
  expect_rejected(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[3,5]}})",
                  5, {"data bytes 2..3 before tensor 'b'", "gap"});
  expect_rejected(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}})", 3, {"data bytes 0..1 before tensor 'a'"});
}

TEST(SafetensorsMalformed, TrailingBytes) {
  expect_rejected(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})", 5, {"3 trailing bytes"});
  expect_rejected("{}", 1, {"1 trailing bytes"});
}

TEST(SafetensorsMalformed, MetadataNotStrings) {
  expect_rejected(R"({"__metadata__":{"a":"x","b":1}})", 0, {"__metadata__ value of 'b' is not a string"});
  expect_rejected(R"({"__metadata__":{"a":{"x":"y"}}})", 0, {"__metadata__ value of 'a' is not a string"});
  expect_rejected(R"({"__metadata__":["a"]})", 0, {"__metadata__ is not an object"});
}

TEST(SafetensorsMalformed, DuplicateNames) {
  expect_rejected(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}})",
                  4, {"duplicate tensor name 'a'"});
  expect_rejected(R"({"a":{"dtype":"U8","dtype":"I8","shape":[2],"data_offsets":[0,2]}})", 2, {"duplicate key 'dtype'"});
  expect_rejected(R"({"__metadata__":{"k":"1","k":"2"}})", 0, {"duplicate key 'k'"});
}

TEST(SafetensorsMalformed, DeepOrLongJsonIsRefusedEarly) {
  expect_rejected(std::string(100000, '[') + std::string(100000, ']'), 0, {"nests deeper than 16 levels"});
  std::string shape = "[";
  for (int i = 0; i < 2000; ++i) shape += "1,";
  shape += "1]";
  expect_rejected(R"({"w":{"dtype":"U8","shape":)" + shape + R"(,"data_offsets":[0,1]}})", 1, {"array longer than 1024"});
}

// Every strict prefix of a valid file and a few thousand random corruptions of its
// header and length field: each parses or throws Error, never anything else.
TEST(SafetensorsMalformed, FuzzedFilesParseOrThrowError) {
  const auto valid = serialize_safetensors(sample());
  std::uint64_t header_len = 0;
  std::memcpy(&header_len, valid.data(), 8);
  const auto survives = [](std::span<const std::byte> bytes) {
    try {
      parse_safetensors(bytes, "fuzz");
      return true;
    } catch (const Error&) {
      return true;
    } catch (...) {
      return false;
    }
  };
  for (std::size_t n = 0; n < valid.size(); ++n) {
    ASSERT_TRUE(survives(std::span(valid).first(n))) << "truncated at " << n;
    EXPECT_THROW(parse_safetensors(std::span(valid).first(n)), Error) << "truncated at " << n;
  }
  std::mt19937_64 gen(20240601);
  int parsed = 0;
  for (int round = 0; round < 4000; ++round) {
    auto bytes = valid;
    const int flips = 1 + static_cast<int>(gen() % 4);
    for (int f = 0; f < flips; ++f) {
      // Mostly header bytes; one round in eight hits the length field.
      const std::size_t at = round % 8 == 0 ? gen() % 8 : 8 + gen() % header_len;
      bytes[at] = gen() % 2 ? static_cast<std::byte>(gen() % 256) : bytes[at] ^ static_cast<std::byte>(1u << (gen() % 8));
    }
    ASSERT_TRUE(survives(bytes)) << "round " << round;
    try {
      parse_safetensors(bytes);
      ++parsed;
    } catch (const Error&) {
    }
  }
  // Some corruptions (inside metadata strings, padding) leave a valid file.
  EXPECT_GT(parsed, 0);
  EXPECT_LT(parsed, 4000);
}

// ---- files ---------------------------------------------------------------------------

class SafetensorsFiles : public test::TempDirTest {};

TEST_F(SafetensorsFiles, WriteThenReadRoundTrips) {
  write_safetensors(path("m.safetensors"), sample());
  EXPECT_EQ(read_safetensors(path("m.safetensors")), sample());
  EXPECT_EQ(listing(), std::vector<std::string>{"m.safetensors"});
}

TEST_F(SafetensorsFiles, OverwriteReplacesTheWholeFile) {
  SafetensorsFile big = sample();
  big.tensors["big"] = random_tensor(ElemType::f32, {100, 100}, 9);
  write_safetensors(path("m.safetensors"), big);
  write_safetensors(path("m.safetensors"), sample());
  EXPECT_EQ(read_safetensors(path("m.safetensors")), sample());
  EXPECT_EQ(listing(), std::vector<std::string>{"m.safetensors"});
}

TEST_F(SafetensorsFiles, ReadErrorsNameThePath) {
  expect_error([&] { read_safetensors(path("missing.safetensors")); }, {"missing.safetensors", "cannot open"});
  expect_error([&] { read_safetensors(dir_); }, {dir_.string(), "is a directory"});
  {
    std::ofstream(path("bad.safetensors")) << "abc";
  }
  expect_error([&] { read_safetensors(path("bad.safetensors")); }, {"bad.safetensors", "fewer than the 8-byte"});
}

TEST_F(SafetensorsFiles, FailedWriteOverADirectoryLeavesNoTemporary) {
  std::filesystem::create_directory(path("taken"));
  std::ofstream(path("taken") / "inside") << "keep";
  expect_error([&] { write_safetensors(path("taken"), sample()); }, {"taken", "cannot rename"});
  EXPECT_TRUE(std::filesystem::is_directory(path("taken")));
  EXPECT_EQ(listing(), std::vector<std::string>{"taken"});
}

TEST_F(SafetensorsFiles, FailedWriteIntoMissingDirectoryNamesIt) {
  expect_error([&] { write_safetensors(path("nodir") / "m.safetensors", sample()); }, {"nodir", "cannot create temporary"});
  EXPECT_TRUE(listing().empty());
}

TEST_F(SafetensorsFiles, FailedWriteIntoReadOnlyDirectoryKeepsTheOldFile) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  write_safetensors(path("m.safetensors"), sample());
  const auto before = read_file(path("m.safetensors"));
  std::filesystem::permissions(dir_, std::filesystem::perms::owner_write, std::filesystem::perm_options::remove);
  SafetensorsFile other;
  other.tensors["x"] = random_tensor(ElemType::f32, {2}, 3);
  expect_error([&] { write_safetensors(path("m.safetensors"), other); }, {"m.safetensors", "cannot create temporary"});
  std::filesystem::permissions(dir_, std::filesystem::perms::owner_write, std::filesystem::perm_options::add);
  EXPECT_EQ(read_file(path("m.safetensors")), before);
  EXPECT_EQ(listing(), std::vector<std::string>{"m.safetensors"});
}

TEST_F(SafetensorsFiles, InvalidTensorWritesNothing) {
  write_safetensors(path("m.safetensors"), sample());
  SafetensorsFile bad = sample();
  bad.tensors["broken"] = Tensor{ElemType::f16, {3}, std::vector<std::byte>(5)};
  expect_error([&] { write_safetensors(path("m.safetensors"), bad); }, {"tensor 'broken'"});
  EXPECT_EQ(read_safetensors(path("m.safetensors")), sample());
  EXPECT_EQ(listing(), std::vector<std::string>{"m.safetensors"});
}

}  // namespace
}  // namespace tilesparse

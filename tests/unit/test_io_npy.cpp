// .npy reading and writing: round trips of every element type (BF16 as raw '<u2' bits),
// files laid out as numpy writes them (versions 1.0, 2.0, 3.0), one test per malformed
// case with the offending part named in the message, and a fuzz pass.
#include <cstring>
#include <random>

#include "tests/io_test_util.hpp"
#include "tilesparse/io/npy.hpp"

namespace tilesparse {
namespace {

using test::expect_error;
using test::random_tensor;
using test::to_bytes;

// A file of the given version whose header is exactly `header` (no padding added),
// followed by `data`.
std::vector<std::byte> craft(std::string_view header, std::span<const std::byte> data, int major = 1) {
  std::vector<std::byte> out = to_bytes(std::string_view("\x93NUMPY", 6));
  out.push_back(static_cast<std::byte>(major));
  out.push_back(std::byte{0});
  const int len_bytes = major == 1 ? 2 : 4;
  for (int i = 0; i < len_bytes; ++i) out.push_back(static_cast<std::byte>((header.size() >> (8 * i)) & 0xff));
  const auto h = to_bytes(header);
  out.insert(out.end(), h.begin(), h.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

std::vector<std::byte> craft(std::string_view header, std::size_t data_size) {
  return craft(header, std::vector<std::byte>(data_size, std::byte{7}));
}

void expect_rejected(std::string_view header, std::size_t data_size, std::initializer_list<std::string_view> needles) {
  const auto bytes = craft(header, data_size);
  expect_error([&] { parse_npy(bytes, "bad.npy"); }, needles);
  expect_error([&] { parse_npy(bytes, "bad.npy"); }, {"bad.npy"});
}

std::string header_of(std::span<const std::byte> file) {
  const std::size_t len = std::to_integer<std::size_t>(file[8]) | std::to_integer<std::size_t>(file[9]) << 8;
  return std::string(reinterpret_cast<const char*>(file.data() + 10), len);
}

TEST(Npy, RoundTripsEveryElementType) {
  std::uint64_t seed = 1;
  for (const ElemType t : test::kAllElemTypes) {
    for (const auto& shape : {std::vector<std::int64_t>{3, 7}, {5}, {2, 1, 3}, {}, {0, 4}, {4, 0}}) {
      const Tensor x = random_tensor(t, shape, seed++);
      const Tensor back = parse_npy(serialize_npy(x));
      EXPECT_EQ(back.shape, x.shape) << to_string(t);
      EXPECT_EQ(back.bytes, x.bytes) << to_string(t);
      EXPECT_EQ(back.type, t == ElemType::bf16 ? ElemType::u16 : t) << to_string(t);
    }
  }
}

TEST(Npy, WritesNumpyLayout) {
  const auto file = serialize_npy(Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3}));
  EXPECT_EQ(std::to_integer<int>(file[6]), 1);
  const std::string h = header_of(file);
  EXPECT_EQ(h.rfind("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 0), 0u) << h;
  EXPECT_EQ(h.back(), '\n');
  EXPECT_EQ((10 + h.size()) % 64, 0u);
  EXPECT_NE(header_of(serialize_npy(random_tensor(ElemType::u8, {5}, 1))).find("'descr': '|u1'"), std::string::npos);
  EXPECT_NE(header_of(serialize_npy(random_tensor(ElemType::u8, {5}, 1))).find("'shape': (5,)"), std::string::npos);
  EXPECT_NE(header_of(serialize_npy(random_tensor(ElemType::f64, {}, 1))).find("'shape': ()"), std::string::npos);
  EXPECT_NE(header_of(serialize_npy(random_tensor(ElemType::bf16, {2}, 1))).find("'<u2'"), std::string::npos);
  EXPECT_NE(header_of(serialize_npy(random_tensor(ElemType::boolean, {2}, 1))).find("'|b1'"), std::string::npos);
}

TEST(Npy, ReadsWhatNumpyWrites) {
  // np.save(f, np.arange(6, dtype='<i4').reshape(2, 3)): 118-byte header, 128 in all.
  std::string header = "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }";
  header += std::string(117 - header.size(), ' ') + "\n";
  const Tensor want = Tensor::from_vector<std::int32_t>({0, 1, 2, 3, 4, 5}, {2, 3});
  const auto v1 = craft(header, want.bytes);
  ASSERT_EQ(v1.size(), 128u + 24u);
  EXPECT_EQ(parse_npy(v1), want);
  // Versions 2.0 and 3.0 differ only in a 4-byte header length (3.0: UTF-8 header).
  EXPECT_EQ(parse_npy(craft(header, want.bytes, 2)), want);
  EXPECT_EQ(parse_npy(craft(header, want.bytes, 3)), want);
  // Other spellings numpy and other writers produce.
  const auto u8 = random_tensor(ElemType::u8, {3}, 2);
  EXPECT_EQ(parse_npy(craft("{\"descr\":\"<u1\",\"shape\":(3L,),\"fortran_order\":False}", u8.bytes)), u8);
  const auto b = random_tensor(ElemType::boolean, {1, 1}, 3);
  EXPECT_EQ(parse_npy(craft("{'shape':(1,1),'fortran_order':False,'descr':'|b1'}\n", b.bytes)), b);
}

TEST(Npy, LargeHeadersUseVersion2) {
  // A shape long enough that the header passes 65535 bytes.
  std::vector<std::int64_t> shape(25000, 1);
  const Tensor t = random_tensor(ElemType::f32, shape, 4);
  const auto file = serialize_npy(t);
  EXPECT_EQ(std::to_integer<int>(file[6]), 2);
  EXPECT_EQ(parse_npy(file), t);
}

TEST(Npy, WriterRejectsInconsistentTensor) {
  const Tensor bad{ElemType::f32, {3}, std::vector<std::byte>(4)};
  expect_error([&] { serialize_npy(bad); }, {"holds 4 bytes", "needs 12"});
}

// ---- malformed files: one test per problem -------------------------------------------

TEST(NpyMalformed, NotNpy) {
  expect_error([] { parse_npy(to_bytes("PK\x03\x04 not numpy"), "x.npy"); }, {"x.npy", "no \\x93NUMPY magic"});
  expect_error([] { parse_npy(to_bytes("\x93NUM"), "x.npy"); }, {"x.npy", "magic"});
}

TEST(NpyMalformed, UnsupportedVersion) {
  auto bytes = craft("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 4);
  bytes[6] = std::byte{4};
  expect_error([&] { parse_npy(bytes, "v.npy"); }, {"v.npy", "unsupported format version 4.0"});
  bytes[6] = std::byte{1};
  bytes[7] = std::byte{1};
  expect_error([&] { parse_npy(bytes, "v.npy"); }, {"unsupported format version 1.1"});
}

TEST(NpyMalformed, HeaderLengthBeyondTheFile) {
  auto bytes = craft("{}", 0);
  bytes[8] = std::byte{200};
  expect_error([&] { parse_npy(bytes, "h.npy"); }, {"h.npy", "header length 200 exceeds the 2 bytes after it"});
  expect_error([&] { parse_npy(std::span(bytes).first(9), "h.npy"); }, {"ends inside the header length"});
}

TEST(NpyMalformed, BigEndian) {
  expect_rejected("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", 4, {"big-endian", "'>f4'"});
}

TEST(NpyMalformed, FortranOrder) {
  expect_rejected("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 16, {"fortran_order True"});
}

TEST(NpyMalformed, ObjectAndUnsupportedDtypes) {
  expect_rejected("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", 8, {"object arrays", "'|O'"});
  expect_rejected("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", 8, {"unsupported dtype '<c8'"});
  expect_rejected("{'descr': '<U3', 'fortran_order': False, 'shape': (1,), }", 12, {"unsupported dtype '<U3'"});
}

TEST(NpyMalformed, MalformedDict) {
  expect_rejected("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", 4, {"malformed header dict", "but the header ended"});
  expect_rejected("{'descr': '<f4' 'fortran_order': False}", 4, {"malformed header dict", "expected ','"});
  expect_rejected("{'descr: '<f4'}", 4, {"malformed header dict"});
  expect_rejected("{'descr': '<f4', 'fortran_order': None, 'shape': (1,)}", 4, {"expected a string, True, False"});
  expect_rejected("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}", 4, {"expected a non-negative integer"});
  expect_rejected("{'descr': '<f4', 'fortran_order': False, 'shape': [1]}", 4, {"malformed header dict"});
  expect_rejected("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", 4, {"does not fit in int64"});
  expect_rejected("{'descr': '<f\\x34', 'fortran_order': False, 'shape': (1,)}", 4, {"escape sequences"});
  expect_rejected("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} extra", 4, {"unexpected text after the dict"});
  expect_rejected("__import__('os').system('x')", 4, {"malformed header dict", "expected '{'"});
}

TEST(NpyMalformed, WrongKeys) {
  expect_rejected("{'descr': '<f4', 'shape': (1,)}", 4, {"header has no 'fortran_order'"});
  expect_rejected("{'fortran_order': False, 'shape': (1,)}", 4, {"header has no 'descr'"});
  expect_rejected("{'descr': '<f4', 'fortran_order': False}", 4, {"header has no 'shape'"});
  expect_rejected("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", 4, {"malformed header dict"});
  expect_rejected("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 'y'}", 4, {"unexpected header key 'x'"});
  expect_rejected("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", 4, {"duplicate key 'descr'"});
  expect_rejected("{'descr': 4, 'fortran_order': False, 'shape': (1,)}", 4, {"malformed header dict"});
  expect_rejected("{'descr': (4,), 'fortran_order': False, 'shape': (1,)}", 4, {"header 'descr' is not a string"});
  expect_rejected("{'descr': '<f4', 'fortran_order': 'no', 'shape': (1,)}", 4, {"header 'fortran_order' is not True or False"});
  expect_rejected("{'descr': '<f4', 'fortran_order': False, 'shape': '1'}", 4, {"header 'shape' is not a tuple"});
}

TEST(NpyMalformed, DataSizeMismatch) {
  expect_rejected("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 20, {"data has 20 bytes", "[2x3] needs 24"});
  expect_rejected("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 28, {"data has 28 bytes"});
  expect_rejected("{'descr': '<f2', 'fortran_order': False, 'shape': (), }", 0, {"data has 0 bytes", "needs 2"});
}

TEST(NpyMalformed, ShapeOverflows) {
  expect_rejected("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", 0, {"overflows int64"});
}

TEST(NpyMalformed, FuzzedFilesParseOrThrowError) {
  const auto valid = serialize_npy(random_tensor(ElemType::f32, {3, 4}, 5));
  const auto survives = [](std::span<const std::byte> bytes) {
    try {
      parse_npy(bytes);
    } catch (const Error&) {
    } catch (...) {
      return false;
    }
    return true;
  };
  for (std::size_t n = 0; n < valid.size(); ++n) {
    ASSERT_TRUE(survives(std::span(valid).first(n))) << "truncated at " << n;
    EXPECT_THROW(parse_npy(std::span(valid).first(n)), Error) << "truncated at " << n;
  }
  std::mt19937_64 gen(77);
  for (int round = 0; round < 4000; ++round) {
    auto bytes = valid;
    for (int f = 0; f < 1 + static_cast<int>(gen() % 4); ++f) bytes[gen() % 74] = static_cast<std::byte>(gen() % 256);
    ASSERT_TRUE(survives(bytes)) << "round " << round;
  }
}

// ---- files ---------------------------------------------------------------------------

class NpyFiles : public test::TempDirTest {};

TEST_F(NpyFiles, WriteThenReadRoundTrips) {
  const Tensor t = random_tensor(ElemType::i16, {4, 3}, 6);
  write_npy(path("t.npy"), t);
  EXPECT_EQ(read_npy(path("t.npy")), t);
  EXPECT_EQ(listing(), std::vector<std::string>{"t.npy"});
}

TEST_F(NpyFiles, ErrorsNameThePath) {
  expect_error([&] { read_npy(path("none.npy")); }, {"none.npy", "cannot open"});
  std::filesystem::create_directory(path("d.npy"));
  expect_error([&] { write_npy(path("d.npy"), random_tensor(ElemType::f32, {2}, 1)); }, {"d.npy", "cannot rename"});
  EXPECT_EQ(listing(), std::vector<std::string>{"d.npy"});
}

}  // namespace
}  // namespace tilesparse

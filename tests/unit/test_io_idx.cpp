// IDX loader: crafted files (valid, truncated, lying dimensions, bad magic/type, gzip),
// labelled image sets, and the installed Fashion-MNIST when present.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "tilesparse/core/error.hpp"
#include "tilesparse/io/idx.hpp"

namespace tilesparse {
namespace {

std::vector<std::byte> idx_bytes(std::uint8_t type, const std::vector<std::uint32_t>& dims,
                                 const std::vector<std::uint8_t>& values) {
  std::vector<std::byte> b{std::byte{0}, std::byte{0}, std::byte{type}, std::byte(dims.size())};
  for (auto d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) b.push_back(std::byte((d >> shift) & 0xff));
  }
  for (auto v : values) b.push_back(std::byte{v});
  return b;
}

std::vector<std::uint8_t> random_bytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::vector<std::uint8_t> v(n);
  for (auto& x : v) x = static_cast<std::uint8_t>(1 + gen() % 255);
  return v;
}

// Error whose message contains `needle`.
template <class F>
void expect_error(F&& f, const std::string& needle) {
  try {
    f();
    FAIL() << "no error, expected one mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Idx, ParsesBigEndianDimsAndValues) {
  // 300 = 0x0000012c exercises more than the lowest byte of a dimension.
  const auto values = random_bytes(300 * 3, 1);
  const IdxArray a = parse_idx(idx_bytes(0x08, {300, 3}, values));
  EXPECT_EQ(a.dims, (std::vector<std::int64_t>{300, 3}));
  EXPECT_EQ(a.values, values);
}

TEST(Idx, EmptyArrayIsValid) {
  const IdxArray a = parse_idx(idx_bytes(0x08, {0, 28, 28}, {}));
  EXPECT_EQ(a.dims, (std::vector<std::int64_t>{0, 28, 28}));
  EXPECT_TRUE(a.values.empty());
}

TEST(Idx, TruncatedPayloadIsRejected) {
  auto b = idx_bytes(0x08, {4, 5}, random_bytes(20, 2));
  b.pop_back();
  expect_error([&] { parse_idx(b, "cut.idx"); }, "truncated");
  expect_error([&] { parse_idx(b, "cut.idx"); }, "cut.idx");
}

TEST(Idx, TruncatedHeaderIsRejected) {
  auto b = idx_bytes(0x08, {4, 5, 6}, {});
  b.resize(9);
  expect_error([&] { parse_idx(b); }, "declares 3 dimensions");
  expect_error([&] { parse_idx(std::vector<std::byte>(3)); }, "too few for the 4-byte magic");
}

TEST(Idx, LyingDimsAreRejected) {
  // Claims 1000 x 1000 but holds 7 bytes.
  expect_error([&] { parse_idx(idx_bytes(0x08, {1000, 1000}, random_bytes(7, 3))); }, "need 1000000 bytes");
  // More data than the dims say.
  expect_error([&] { parse_idx(idx_bytes(0x08, {2}, random_bytes(3, 4))); }, "trailing bytes");
  // Dims whose product overflows any sane size.
  expect_error([&] { parse_idx(idx_bytes(0x08, {0xffffffffu, 0xffffffffu, 0xffffffffu}, {})); },
               "multiply to more than");
}

TEST(Idx, BadMagicAndTypeAreRejected) {
  auto b = idx_bytes(0x08, {1}, {7});
  b[0] = std::byte{1};
  expect_error([&] { parse_idx(b); }, "bad magic");
  expect_error([&] { parse_idx(idx_bytes(0x0d, {1}, {0, 0, 0, 0})); }, "element type 0x0d");
  expect_error([&] { parse_idx(idx_bytes(0x08, {}, {})); }, "0 dimensions");
}

// gzip of idx_bytes(0x08, {2, 3}, {1, 2, 3, 4, 5, 250}) (Python gzip, mtime=0).
const std::vector<std::uint8_t> kGzipped = {
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0x63, 0x60, 0xe0, 0x60, 0x62, 0x60, 0x60, 0x00,
    0x61, 0x66, 0x46, 0x26, 0x66, 0x16, 0xd6, 0x5f, 0x00, 0x7f, 0x2a, 0x35, 0x51, 0x12, 0x00, 0x00, 0x00};

std::vector<std::byte> as_bytes(const std::vector<std::uint8_t>& v) {
  std::vector<std::byte> b;
  for (auto x : v) b.push_back(std::byte{x});
  return b;
}

TEST(Idx, GzipIsReadOrRejectedClearly) {
  const auto gz = as_bytes(kGzipped);
  if (!idx_gzip_supported()) {
    expect_error([&] { parse_idx(gz); }, "no zlib");
    return;
  }
  const IdxArray a = parse_idx(gz);
  EXPECT_EQ(a.dims, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(a.values, (std::vector<std::uint8_t>{1, 2, 3, 4, 5, 250}));
  auto cut = gz;
  cut.resize(cut.size() - 10);
  expect_error([&] { parse_idx(cut, "cut.gz"); }, "truncated");
  auto corrupt = gz;
  corrupt[12] ^= std::byte{0xff};
  expect_error([&] { parse_idx(corrupt, "bad.gz"); }, "bad.gz");
}

TEST(Idx, LabeledImagesScaleToUnitRange) {
  const auto px = random_bytes(3 * 2 * 2, 5);
  const LabeledImages s = make_labeled_images(parse_idx(idx_bytes(0x08, {3, 2, 2}, px)),
                                              parse_idx(idx_bytes(0x08, {3}, {0, 9, 4})), 10, "t");
  ASSERT_EQ(s.images.rows(), 3);
  ASSERT_EQ(s.images.cols(), 4);
  EXPECT_EQ(s.rows, 2);
  for (std::size_t i = 0; i < px.size(); ++i) EXPECT_FLOAT_EQ(s.images.values()[i], px[i] / 255.0f);
  EXPECT_EQ(s.labels, (std::vector<std::uint8_t>{0, 9, 4}));
}

TEST(Idx, MismatchedImagesAndLabelsAreRejected) {
  const IdxArray images = parse_idx(idx_bytes(0x08, {3, 2, 2}, random_bytes(12, 6)));
  expect_error([&] { make_labeled_images(images, parse_idx(idx_bytes(0x08, {2}, {0, 1})), 10, "t"); },
               "image count 3 differs from label count 2");
  expect_error([&] { make_labeled_images(images, parse_idx(idx_bytes(0x08, {3}, {0, 10, 1})), 10, "t"); },
               "label 1 is 10");
  expect_error([&] { make_labeled_images(images, images, 10, "t"); }, "labels must have 1 dimension");
  const IdxArray flat = parse_idx(idx_bytes(0x08, {3}, {0, 1, 2}));
  expect_error([&] { make_labeled_images(flat, flat, 10, "t"); }, "images must have 3 dimensions");
}

TEST(Idx, ReadsFilesAndNamesMissingOnes) {
  const auto dir = std::filesystem::temp_directory_path() / ("ts_idx_" + std::to_string(std::random_device{}()));
  std::filesystem::create_directories(dir);
  auto write = [&](const std::string& name, const std::vector<std::byte>& b) {
    std::ofstream(dir / name, std::ios::binary)
        .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  };
  expect_error([&] { load_fashion_mnist(dir); }, "dataset-fashion-mnist");
  write("train-images-idx3-ubyte", idx_bytes(0x08, {2, 28, 28}, random_bytes(2 * 784, 7)));
  write("train-labels-idx1-ubyte", idx_bytes(0x08, {2}, {3, 1}));
  write("t10k-images-idx3-ubyte", idx_bytes(0x08, {1, 28, 28}, random_bytes(784, 8)));
  write("t10k-labels-idx1-ubyte", idx_bytes(0x08, {1}, {9}));
  const FashionMnist f = load_fashion_mnist(dir);
  EXPECT_EQ(f.train.images.rows(), 2);
  EXPECT_EQ(f.test.labels, (std::vector<std::uint8_t>{9}));
  std::filesystem::remove_all(dir);
}

TEST(Idx, InstalledFashionMnistLoads) {
  if (!std::filesystem::exists(kFashionMnistDir)) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  if (!idx_gzip_supported()) GTEST_SKIP() << "built without zlib";
  const FashionMnist f = load_fashion_mnist();
  EXPECT_EQ(f.train.images.rows(), 60000);
  EXPECT_EQ(f.test.images.rows(), 10000);
  EXPECT_EQ(f.train.images.cols(), 784);
  std::vector<int> per_class(10, 0);
  for (auto l : f.test.labels) ++per_class[l];
  for (int c = 0; c < 10; ++c) EXPECT_EQ(per_class[c], 1000) << "class " << c;  // the test split is balanced
}

}  // namespace
}  // namespace tilesparse

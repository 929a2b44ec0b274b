#pragma once
// IDX files (the MNIST / Fashion-MNIST format, http://yann.lecun.com/exdb/mnist/):
// two zero bytes, a type byte, a dimension count, one big-endian u32 per dimension, then
// the values, row-major. Only unsigned bytes (type 0x08) are read: that is what the
// image and label files hold. Files may be gzip-compressed (as Debian's
// dataset-fashion-mnist ships them) when the library was built with zlib.
// Every claim of the header is checked against the bytes present: a bad magic, an
// unsupported type, a truncated or overlong payload, or dimensions whose product
// overflows give an Error naming the file and the problem.
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "tilesparse/core/matrix.hpp"

namespace tilesparse {

struct IdxArray {
  std::vector<std::int64_t> dims;
  std::vector<std::uint8_t> values;  // row-major, size = product of dims
};

// Whether gzip-compressed files can be read (the library was built with zlib).
bool idx_gzip_supported();

// Decompressed bytes larger than this are rejected (a gzip bomb, not a data set).
inline constexpr std::uint64_t kMaxIdxBytes = 1ull << 31;

// bytes: the file's content, gzip-compressed or not (told apart by the gzip magic).
IdxArray parse_idx(std::span<const std::byte> bytes, const std::string& source = "<memory>");
IdxArray read_idx(const std::filesystem::path& path);

// Images (count x rows x cols, u8) and their labels (count, u8) of one split.
struct LabeledImages {
  HostMatrix images;                 // count x (rows*cols), f32 in [0, 1] (pixel / 255)
  std::vector<std::uint8_t> labels;  // size count, each < num_classes
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  int num_classes = 0;
};

// Checks that the images are 3-d, the labels 1-d with the same count, and every label
// below num_classes (Error naming the first offending label's index otherwise).
LabeledImages make_labeled_images(const IdxArray& images, const IdxArray& labels, int num_classes,
                                  const std::string& source);
LabeledImages read_labeled_images(const std::filesystem::path& images, const std::filesystem::path& labels,
                                  int num_classes);

struct FashionMnist {
  LabeledImages train;  // 60000 images
  LabeledImages test;   // 10000 images
};

// Where Debian's dataset-fashion-mnist package installs the files.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// Reads {train,t10k}-{images-idx3,labels-idx1}-ubyte from dir, each plain or with a .gz
// suffix (the plain file wins when both exist). Error naming the missing file and the
// package that provides it.
FashionMnist load_fashion_mnist(const std::filesystem::path& dir = kFashionMnistDir);

}  // namespace tilesparse

#include "tilesparse/io/idx.hpp"

#include <cstdio>
#include <limits>
#include <string>

#include "tilesparse/core/error.hpp"
#include "tilesparse/io/file.hpp"

#ifdef TILESPARSE_HAS_ZLIB
#include <zlib.h>
#endif

namespace tilesparse {
namespace {

constexpr std::uint8_t kIdxTypeU8 = 0x08;

bool is_gzip(std::span<const std::byte> bytes) {
  return bytes.size() >= 2 && bytes[0] == std::byte{0x1f} && bytes[1] == std::byte{0x8b};
}

#ifdef TILESPARSE_HAS_ZLIB
// Inflates every gzip member in turn (gzip allows several concatenated members).
std::vector<std::byte> gunzip(std::span<const std::byte> bytes, const std::string& source) {
  const std::string op = "read_idx " + source;
  z_stream zs{};
  // 16 + MAX_WBITS: expect a gzip header and trailer (CRC and size are checked by zlib).
  require(inflateInit2(&zs, 16 + MAX_WBITS) == Z_OK, op, "zlib could not start inflating");
  std::vector<std::byte> out;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(bytes.data()));
  zs.avail_in = static_cast<uInt>(bytes.size());
  require(bytes.size() <= std::numeric_limits<uInt>::max(), op, "compressed file larger than 4 GiB");
  std::byte chunk[1 << 16];
  int rc = Z_OK;
  for (;;) {
    zs.next_out = reinterpret_cast<Bytef*>(chunk);
    zs.avail_out = sizeof chunk;
    rc = inflate(&zs, Z_NO_FLUSH);
    const std::size_t produced = sizeof chunk - zs.avail_out;
    if (out.size() + produced > kMaxIdxBytes) {
      inflateEnd(&zs);
      throw Error(op, "decompresses to more than " + std::to_string(kMaxIdxBytes) + " bytes");
    }
    out.insert(out.end(), chunk, chunk + produced);
    if (rc == Z_STREAM_END) {
      if (zs.avail_in == 0) break;
      inflateReset(&zs);
      continue;
    }
    if (rc == Z_OK) continue;
    // Z_BUF_ERROR with no input left: the stream stops before its end (a cut file).
    const std::string reason = rc == Z_BUF_ERROR && zs.avail_in == 0
                                   ? "gzip stream is truncated (ends after " + std::to_string(zs.total_in) +
                                         " compressed bytes without its trailer)"
                                   : std::string("gzip data is corrupt: ") + (zs.msg ? zs.msg : "zlib error");
    inflateEnd(&zs);
    throw Error(op, reason);
  }
  inflateEnd(&zs);
  return out;
}
#endif

std::string dims_str(const std::vector<std::int64_t>& dims) {
  std::string s = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (i) s += 'x';
    s += std::to_string(dims[i]);
  }
  return s + "]";
}

IdxArray parse_plain_idx(std::span<const std::byte> bytes, const std::string& source) {
  const std::string op = "read_idx " + source;
  auto u8 = [&](std::size_t i) { return std::to_integer<std::uint8_t>(bytes[i]); };
  require(bytes.size() >= 4, op, "file holds " + std::to_string(bytes.size()) + " bytes, too few for the 4-byte magic");
  require(u8(0) == 0 && u8(1) == 0, op,
          "bad magic: the first two bytes must be 0 (is this an IDX file, or gzip data read without zlib?)");
  if (u8(2) != kIdxTypeU8) {
    char type[8];
    std::snprintf(type, sizeof type, "0x%02x", u8(2));
    throw Error(op, std::string("element type ") + type + " is not supported: only unsigned bytes (0x08)");
  }
  const int ndims = u8(3);
  require(ndims >= 1, op, "the header declares 0 dimensions");
  const std::size_t header = 4 + 4 * static_cast<std::size_t>(ndims);
  require(bytes.size() >= header, op,
          "header declares " + std::to_string(ndims) + " dimensions (" + std::to_string(header) +
              " header bytes) but the file holds only " + std::to_string(bytes.size()) + " bytes");
  IdxArray a;
  std::uint64_t total = 1;
  for (int d = 0; d < ndims; ++d) {
    const std::size_t at = 4 + 4 * static_cast<std::size_t>(d);
    const std::uint64_t dim = (std::uint64_t{u8(at)} << 24) | (std::uint64_t{u8(at + 1)} << 16) |
                              (std::uint64_t{u8(at + 2)} << 8) | std::uint64_t{u8(at + 3)};
    // Each dim < 2^32, so the product stays exact while it is <= kMaxIdxBytes.
    if (dim != 0 && total > kMaxIdxBytes / dim) {
      throw Error(op, "dimensions multiply to more than " + std::to_string(kMaxIdxBytes) + " values (dimension " +
                          std::to_string(d) + " is " + std::to_string(dim) + ")");
    }
    total *= dim;
    a.dims.push_back(static_cast<std::int64_t>(dim));
  }
  const std::uint64_t present = bytes.size() - header;
  require(present == total, op,
          "dimensions " + dims_str(a.dims) + " need " + std::to_string(total) + " bytes of data after the " +
              std::to_string(header) + "-byte header, the file holds " + std::to_string(present) +
              (present < total ? " (truncated)" : " (trailing bytes)"));
  a.values.resize(total);
  for (std::uint64_t i = 0; i < total; ++i) a.values[i] = u8(header + i);
  return a;
}

std::filesystem::path plain_or_gz(const std::filesystem::path& dir, const std::string& name) {
  const auto plain = dir / name;
  if (std::filesystem::exists(plain)) return plain;
  const auto gz = dir / (name + ".gz");
  if (std::filesystem::exists(gz)) return gz;
  throw Error("load_fashion_mnist", "neither " + plain.string() + " nor " + gz.string() +
                                        " exists (install the Debian package dataset-fashion-mnist, "
                                        "or pass the folder holding the IDX files)");
}

}  // namespace

bool idx_gzip_supported() {
#ifdef TILESPARSE_HAS_ZLIB
  return true;
#else
  return false;
#endif
}

IdxArray parse_idx(std::span<const std::byte> bytes, const std::string& source) {
  if (!is_gzip(bytes)) return parse_plain_idx(bytes, source);
#ifdef TILESPARSE_HAS_ZLIB
  return parse_plain_idx(gunzip(bytes, source), source);
#else
  throw Error("read_idx " + source,
              "file is gzip-compressed and this build has no zlib: gunzip it first, or rebuild with zlib");
#endif
}

IdxArray read_idx(const std::filesystem::path& path) { return parse_idx(read_file(path), path.string()); }

LabeledImages make_labeled_images(const IdxArray& images, const IdxArray& labels, int num_classes,
                                  const std::string& source) {
  const std::string op = "read_labeled_images " + source;
  require(num_classes >= 1 && num_classes <= 256, op, "num_classes must be in [1, 256]");
  require(images.dims.size() == 3, op,
          "images must have 3 dimensions (count x rows x cols), found " + dims_str(images.dims));
  require(labels.dims.size() == 1, op, "labels must have 1 dimension (count), found " + dims_str(labels.dims));
  require(images.dims[0] == labels.dims[0], op,
          "image count " + std::to_string(images.dims[0]) + " differs from label count " +
              std::to_string(labels.dims[0]));
  for (std::size_t i = 0; i < labels.values.size(); ++i) {
    if (labels.values[i] >= num_classes)  // the message is built only on failure
      throw Error(op, "label " + std::to_string(i) + " is " + std::to_string(labels.values[i]) + ", not below " +
                          std::to_string(num_classes) + " classes");
  }
  LabeledImages out;
  out.rows = images.dims[1];
  out.cols = images.dims[2];
  out.num_classes = num_classes;
  out.labels = labels.values;
  out.images = HostMatrix(images.dims[0], out.rows * out.cols, DType::f32);
  auto px = out.images.mutable_values();
  for (std::size_t i = 0; i < images.values.size(); ++i) px[i] = static_cast<float>(images.values[i]) / 255.0f;
  return out;
}

LabeledImages read_labeled_images(const std::filesystem::path& images, const std::filesystem::path& labels,
                                  int num_classes) {
  return make_labeled_images(read_idx(images), read_idx(labels), num_classes,
                             images.string() + " + " + labels.string());
}

FashionMnist load_fashion_mnist(const std::filesystem::path& dir) {
  auto split = [&](const std::string& prefix) {
    return read_labeled_images(plain_or_gz(dir, prefix + "-images-idx3-ubyte"),
                               plain_or_gz(dir, prefix + "-labels-idx1-ubyte"), 10);
  };
  return {split("train"), split("t10k")};
}

}  // namespace tilesparse

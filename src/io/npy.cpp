#include "tilesparse/io/npy.hpp"

#include <array>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <string_view>
#include <variant>

#include "src/io/io_checks.hpp"
#include "tilesparse/io/file.hpp"

namespace tilesparse {

namespace {

using io_detail::checked_nbytes;
using io_detail::Reject;

constexpr std::string_view kMagic = "\x93NUMPY";
// numpy aligns the start of the data to 64 bytes (so that memory maps are aligned).
constexpr std::size_t kAlign = 64;

struct Descr {
  std::string_view name;
  ElemType type;
};
// Accepted on read; the first spelling of a type is the one written. numpy writes '|'
// for one-byte types; '<' on one-byte types is accepted as some writers emit it.
constexpr std::array<Descr, 16> kDescrs{{
    {"<f4", ElemType::f32}, {"<f2", ElemType::f16}, {"<f8", ElemType::f64}, {"<i4", ElemType::i32},
    {"<i8", ElemType::i64}, {"<i2", ElemType::i16}, {"|i1", ElemType::i8}, {"<u8", ElemType::u64},
    {"<u4", ElemType::u32}, {"<u2", ElemType::u16}, {"|u1", ElemType::u8}, {"|b1", ElemType::boolean},
    {"<u2", ElemType::bf16},  // numpy has no bfloat16: written as raw bits, read back as U16
    {"<u1", ElemType::u8},    {"<i1", ElemType::i8},  {"<b1", ElemType::boolean},
}};


// The header is a Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
// Values are strings, booleans or tuples of integers; nothing is evaluated.
using Value = std::variant<std::string, bool, std::vector<std::int64_t>>;

class HeaderParser {
 public:
  HeaderParser(std::string_view text, const Reject& reject) : text_(text), reject_(reject) {}

  std::map<std::string, Value> dict() {
    std::map<std::string, Value> out;
    expect('{');
    while (!peek_is('}')) {
      const std::string key = string_literal();
      expect(':');
      if (!out.emplace(key, value()).second) fail("duplicate key '" + key + "'");
      if (!peek_is('}')) expect(',');
    }
    expect('}');
    skip_space();
    if (pos_ != text_.size()) fail("unexpected text after the dict");
    return out;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    reject_("malformed header dict at offset " + std::to_string(pos_) + ": " + what);
  }
  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' || text_[pos_] == '\t' || text_[pos_] == '\r'))
      ++pos_;
  }
  bool peek_is(char c) {
    skip_space();
    return pos_ < text_.size() && text_[pos_] == c;
  }
  void expect(char c) {
    if (!peek_is(c)) fail(std::string("expected '") + c + "'" + (pos_ == text_.size() ? " but the header ended" : ""));
    ++pos_;
  }

  std::string string_literal() {
    skip_space();
    if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"')) fail("expected a quoted string");
    const char quote = text_[pos_++];
    const std::size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] != quote) {
      if (text_[pos_] == '\\') fail("escape sequences are not supported");
      ++pos_;
    }
    if (pos_ >= text_.size()) fail("unterminated string");
    return std::string(text_.substr(start, pos_++ - start));
  }

  std::int64_t integer() {
    skip_space();
    const std::size_t start = pos_;
    std::int64_t v = 0;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      const int digit = text_[pos_++] - '0';
      if (v > (std::numeric_limits<std::int64_t>::max() - digit) / 10) fail("dimension does not fit in int64");
      v = v * 10 + digit;
    }
    if (pos_ == start) fail("expected a non-negative integer");
    if (pos_ < text_.size() && text_[pos_] == 'L') ++pos_;  // Python 2 long suffix
    return v;
  }

  std::vector<std::int64_t> tuple() {
    std::vector<std::int64_t> dims;
    expect('(');
    while (!peek_is(')')) {
      dims.push_back(integer());
      if (!peek_is(')')) expect(',');
    }
    expect(')');
    return dims;
  }

  Value value() {
    skip_space();
    if (peek_is('(')) return tuple();
    if (peek_is('\'') || peek_is('"')) return string_literal();
    for (const auto& [word, b] : {std::pair{std::string_view("True"), true}, std::pair{std::string_view("False"), false}}) {
      if (text_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        return b;
      }
    }
    fail("expected a string, True, False or a tuple of integers");
  }

  std::string_view text_;
  const Reject& reject_;
  std::size_t pos_ = 0;
};

template <class T>
const T& dict_entry(const std::map<std::string, Value>& dict, const std::string& key, const char* kind,
                    const Reject& reject) {
  const auto it = dict.find(key);
  if (it == dict.end()) reject("header has no '" + key + "'");
  const T* v = std::get_if<T>(&it->second);
  if (!v) reject("header '" + key + "' is not " + kind);
  return *v;
}

ElemType parse_descr(const std::string& descr, const Reject& reject) {
  for (const auto& d : kDescrs)
    if (d.name == descr && d.type != ElemType::bf16) return d.type;
  if (!descr.empty() && descr[0] == '>') reject("big-endian data ('" + descr + "') is not supported");
  if (descr.find('O') != std::string::npos) reject("object arrays ('" + descr + "') are not supported");
  reject("unsupported dtype '" + descr + "'");
}

std::string_view descr_of(ElemType t) {
  for (const auto& d : kDescrs)
    if (d.type == t) return d.name;
  throw Error("serialize_npy", "no .npy dtype for " + std::string(to_string(t)));
}

std::uint32_t read_le(std::span<const std::byte> b) {
  std::uint32_t v = 0;
  for (std::size_t i = b.size(); i-- > 0;) v = (v << 8) | std::to_integer<std::uint32_t>(b[i]);
  return v;
}

}  // namespace

Tensor parse_npy(std::span<const std::byte> bytes, const std::string& source) {
  const Reject reject("parse_npy", source);
  if (bytes.size() < kMagic.size() + 2 || std::memcmp(bytes.data(), kMagic.data(), kMagic.size()) != 0)
    reject("not a .npy file (no \\x93NUMPY magic)");
  const auto major = std::to_integer<int>(bytes[6]);
  const auto minor = std::to_integer<int>(bytes[7]);
  if (major < 1 || major > 3 || minor != 0)
    reject("unsupported format version " + std::to_string(major) + "." + std::to_string(minor));
  // Version 1.0 has a 2-byte header length; 2.0 and 3.0 (UTF-8 header) a 4-byte one.
  const std::size_t len_bytes = major == 1 ? 2 : 4;
  if (bytes.size() < 8 + len_bytes) reject("file ends inside the header length");
  const std::size_t header_len = read_le(bytes.subspan(8, len_bytes));
  const std::size_t header_start = 8 + len_bytes;
  if (header_len > bytes.size() - header_start)
    reject("header length " + std::to_string(header_len) + " exceeds the " +
           std::to_string(bytes.size() - header_start) + " bytes after it");

  const std::string_view text(reinterpret_cast<const char*>(bytes.data() + header_start), header_len);
  const auto dict = HeaderParser(text, reject).dict();
  for (const auto& [key, v] : dict)
    if (key != "descr" && key != "fortran_order" && key != "shape") reject("unexpected header key '" + key + "'");
  const ElemType type = parse_descr(dict_entry<std::string>(dict, "descr", "a string", reject), reject);
  if (dict_entry<bool>(dict, "fortran_order", "True or False", reject))
    reject("fortran_order True is not supported (only C order)");
  Tensor t{type, dict_entry<std::vector<std::int64_t>>(dict, "shape", "a tuple of integers", reject), {}};

  const auto need = checked_nbytes(t.shape, size_of(type));
  if (!need) reject("shape " + shape_str(t.shape) + " overflows int64");
  const auto data = bytes.subspan(header_start + header_len);
  if (data.size() != static_cast<std::uint64_t>(*need))
    reject("data has " + std::to_string(data.size()) + " bytes but '" + std::string(descr_of(type)) + "' " +
           shape_str(t.shape) + " needs " + std::to_string(*need));
  t.bytes.assign(data.begin(), data.end());
  return t;
}

std::vector<std::byte> serialize_npy(const Tensor& t) {
  io_detail::require_consistent(t, "serialize_npy", "tensor");
  std::string dims;
  for (const auto d : t.shape) dims += std::to_string(d) + ", ";
  if (t.shape.size() > 1) dims.resize(dims.size() - 2);  // (3, 4) but (3,) and ()
  if (t.shape.size() == 1) dims.pop_back();
  std::string header = "{'descr': '" + std::string(descr_of(t.type)) + "', 'fortran_order': False, 'shape': (" +
                       dims + "), }";
  // Version 1.0 while the padded header length fits in its 16 bits, as numpy does.
  const auto padding = [&](std::size_t prefix) { return (kAlign - (prefix + header.size() + 1) % kAlign) % kAlign; };
  const bool v1 = header.size() + padding(10) + 1 <= 0xffff;
  const std::size_t prefix = v1 ? 10 : 12;
  header.append(padding(prefix), ' ');
  header += '\n';

  std::vector<std::byte> out;
  out.reserve(prefix + header.size() + t.bytes.size());
  for (const char c : kMagic) out.push_back(static_cast<std::byte>(c));
  out.push_back(std::byte{static_cast<unsigned char>(v1 ? 1 : 2)});
  out.push_back(std::byte{0});
  for (std::size_t i = 0; i < prefix - 8; ++i) out.push_back(static_cast<std::byte>((header.size() >> (8 * i)) & 0xff));
  for (const char c : header) out.push_back(static_cast<std::byte>(c));
  out.insert(out.end(), t.bytes.begin(), t.bytes.end());
  return out;
}

Tensor read_npy(const std::filesystem::path& path) { return parse_npy(read_file(path), path.string()); }

void write_npy(const std::filesystem::path& path, const Tensor& t) { write_file_atomic(path, serialize_npy(t)); }

}  // namespace tilesparse

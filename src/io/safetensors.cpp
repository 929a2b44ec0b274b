#include "tilesparse/io/safetensors.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>

#include "src/io/io_checks.hpp"
#include "tilesparse/io/file.hpp"

namespace tilesparse {

namespace {

using nlohmann::json;
using io_detail::checked_nbytes;
using io_detail::Reject;

constexpr std::string_view kMetadataKey = "__metadata__";


// A short rendering of an untrusted JSON value for messages.
std::string brief(const json& v) {
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  return s;
}

// A valid header nests three levels deep (header, entry, shape) and its arrays are
// shapes and offset pairs; the limits stop crafted headers from building a DOM many
// times their size (each nested or listed value costs tens of bytes).
constexpr std::size_t kMaxHeaderDepth = 16;
constexpr std::size_t kMaxArrayLength = 1024;

// The parser callback enforces the limits above and rejects duplicate keys, which
// nlohmann would silently resolve to the last one (the reference reader rejects them).
json parse_header(std::string_view text, const Reject& reject) {
  struct Open {
    bool is_array;
    std::size_t length = 0;
    std::set<std::string> keys;
  };
  std::vector<Open> open;
  const auto check = [&](int, json::parse_event_t event, json& parsed) {
    using E = json::parse_event_t;
    const bool starts = event == E::object_start || event == E::array_start;
    if ((starts || event == E::value) && !open.empty() && open.back().is_array &&
        ++open.back().length > kMaxArrayLength)
      reject("header has an array longer than " + std::to_string(kMaxArrayLength) + " elements");
    if (starts) {
      open.push_back(Open{event == E::array_start, 0, {}});
      if (open.size() > kMaxHeaderDepth) reject("header nests deeper than " + std::to_string(kMaxHeaderDepth) + " levels");
    }
    if ((event == E::object_end || event == E::array_end) && !open.empty()) open.pop_back();
    if (event == E::key && !open.empty() && !open.back().keys.insert(parsed.get<std::string>()).second)
      reject((open.size() == 1 ? "duplicate tensor name '" : "duplicate key '") + parsed.get<std::string>() +
             "' in header");
    return true;
  };
  json header;
  try {
    header = json::parse(text.begin(), text.end(), check);
  } catch (const json::exception& e) {
    reject(std::string("header is not valid JSON: ") + e.what());
  }
  reject.unless(header.is_object(), "header is not a JSON object but " + std::string(header.type_name()));
  return header;
}

// A JSON integer in [0, int64 max]; `what` names the field for the message.
std::int64_t non_negative(const json& v, const std::string& what, const Reject& reject) {
  reject.unless(v.is_number_integer(), what + " is not an integer: " + brief(v));
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    reject.unless(u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()), what + " = " + brief(v) + " is too large");
    return static_cast<std::int64_t>(u);
  }
  const auto i = v.get<std::int64_t>();
  reject.unless(i >= 0, what + " = " + std::to_string(i) + " is negative");
  return i;
}

const json& field(const json& entry, const char* key, const std::string& tensor, const Reject& reject) {
  const auto it = entry.find(key);
  reject.unless(it != entry.end(), "tensor '" + tensor + "' has no '" + key + "'");
  return *it;
}

struct Entry {
  std::string name;
  Tensor tensor;  // bytes filled once all entries are checked
  std::int64_t begin = 0;
  std::int64_t end = 0;
};

Entry parse_entry(const std::string& name, const json& v, std::int64_t data_size, const Reject& reject) {
  const std::string what = "tensor '" + name + "'";
  reject.unless(v.is_object(), what + ": entry is not an object but " + brief(v));
  Entry e{name, {}, 0, 0};

  const json& dtype = field(v, "dtype", name, reject);
  reject.unless(dtype.is_string(), what + ": 'dtype' is not a string: " + brief(dtype));
  try {
    e.tensor.type = parse_elem_type(dtype.get<std::string>());
  } catch (const Error& err) {
    reject(what + ": " + err.reason());
  }

  const json& shape = field(v, "shape", name, reject);
  reject.unless(shape.is_array(), what + ": 'shape' is not an array: " + brief(shape));
  for (std::size_t i = 0; i < shape.size(); ++i)
    e.tensor.shape.push_back(non_negative(shape[i], what + ": shape[" + std::to_string(i) + "]", reject));
  const auto nbytes = checked_nbytes(e.tensor.shape, size_of(e.tensor.type));
  reject.unless(nbytes.has_value(), what + ": shape " + shape_str(e.tensor.shape) + " overflows int64");

  const json& offsets = field(v, "data_offsets", name, reject);
  reject.unless(offsets.is_array() && offsets.size() == 2,
                what + ": 'data_offsets' is not an array of two integers: " + brief(offsets));
  e.begin = non_negative(offsets[0], what + ": data_offsets[0]", reject);
  e.end = non_negative(offsets[1], what + ": data_offsets[1]", reject);
  const std::string range = "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "]";
  reject.unless(e.begin <= e.end, what + ": " + range + " end before they begin");
  reject.unless(e.end <= data_size,
                what + ": " + range + " extend beyond the data section (" + std::to_string(data_size) + " bytes)");
  reject.unless(e.end - e.begin == *nbytes, what + ": " + range + " span " + std::to_string(e.end - e.begin) +
                                                " bytes but " + std::string(to_string(e.tensor.type)) + " " +
                                                shape_str(e.tensor.shape) + " needs " + std::to_string(*nbytes));
  return e;
}

std::map<std::string, std::string> parse_metadata(const json& v, const Reject& reject) {
  std::map<std::string, std::string> out;
  if (v.is_null()) return out;  // the reference writer's "no metadata"
  reject.unless(v.is_object(), "__metadata__ is not an object: " + brief(v));
  for (const auto& [key, value] : v.items()) {
    reject.unless(value.is_string(), "__metadata__ value of '" + key + "' is not a string: " + brief(value));
    out.emplace(key, value.get<std::string>());
  }
  return out;
}

// Like the reference reader: the tensors, in offset order, must tile the data section
// exactly (no overlap, no gap, no trailing bytes), so every byte has one owner.
void check_coverage(std::vector<Entry*> entries, std::int64_t data_size, const Reject& reject) {
  std::sort(entries.begin(), entries.end(),
            [](const Entry* a, const Entry* b) { return std::tie(a->begin, a->end) < std::tie(b->begin, b->end); });
  std::int64_t covered = 0;
  const Entry* previous = nullptr;
  for (const Entry* e : entries) {
    if (e->begin < covered)
      reject("tensor '" + e->name + "' (bytes " + std::to_string(e->begin) + ".." + std::to_string(e->end) +
             ") overlaps tensor '" + previous->name + "' (ending at " + std::to_string(covered) + ")");
    if (e->begin > covered)
      reject("data bytes " + std::to_string(covered) + ".." + std::to_string(e->begin) + " before tensor '" +
             e->name + "' belong to no tensor (gap)");
    covered = e->end;
    previous = e;
  }
  if (covered != data_size)
    reject(std::to_string(data_size - covered) + " trailing bytes after the last tensor belong to no tensor");
}

}  // namespace

SafetensorsFile parse_safetensors(std::span<const std::byte> bytes, const std::string& source) {
  const Reject reject("parse_safetensors", source);
  reject.unless(bytes.size() >= 8, "file has " + std::to_string(bytes.size()) +
                                       " bytes, fewer than the 8-byte header length");
  std::uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | std::to_integer<std::uint64_t>(bytes[i]);
  reject.unless(header_len <= kMaxSafetensorsHeader, "header length " + std::to_string(header_len) +
                                                         " exceeds the limit of " + std::to_string(kMaxSafetensorsHeader) + " bytes");
  reject.unless(header_len <= bytes.size() - 8, "header length " + std::to_string(header_len) + " exceeds the " +
                                                    std::to_string(bytes.size() - 8) + " bytes after it");
  const auto* text = reinterpret_cast<const char*>(bytes.data() + 8);
  const json header = parse_header(std::string_view(text, header_len), reject);

  const std::span<const std::byte> data = bytes.subspan(8 + header_len);
  const auto data_size = static_cast<std::int64_t>(data.size());
  SafetensorsFile file;
  std::vector<Entry> entries;
  for (const auto& [name, value] : header.items()) {
    if (name == kMetadataKey)
      file.metadata = parse_metadata(value, reject);
    else
      entries.push_back(parse_entry(name, value, data_size, reject));
  }
  std::vector<Entry*> order;
  for (Entry& e : entries) order.push_back(&e);
  check_coverage(std::move(order), data_size, reject);

  for (Entry& e : entries) {
    const auto span = data.subspan(static_cast<std::size_t>(e.begin), static_cast<std::size_t>(e.end - e.begin));
    e.tensor.bytes.assign(span.begin(), span.end());
    file.tensors.emplace(std::move(e.name), std::move(e.tensor));
  }
  return file;
}

std::vector<std::byte> serialize_safetensors(const SafetensorsFile& file) {
  // Written by hand rather than as one json object so that "__metadata__" comes first
  // (as the reference writer puts it) and tensors follow in name order in linear time.
  std::string header = "{";
  std::uint64_t offset = 0;
  try {
    if (!file.metadata.empty()) header += json(kMetadataKey).dump() + ":" + json(file.metadata).dump();
    for (const auto& [name, t] : file.tensors) {
      require(name != kMetadataKey, "serialize_safetensors", "a tensor may not be named '__metadata__'");
      io_detail::require_consistent(t, "serialize_safetensors", "tensor '" + name + "'");
      nlohmann::ordered_json entry;  // the reference's field order
      entry["dtype"] = to_string(t.type);
      entry["shape"] = t.shape;
      entry["data_offsets"] = {offset, offset + t.bytes.size()};
      offset += t.bytes.size();
      if (header.size() > 1) header += ",";
      header += json(name).dump() + ":" + entry.dump();
    }
  } catch (const json::exception& e) {
    throw Error("serialize_safetensors", std::string("a tensor name or metadata string is not valid UTF-8: ") + e.what());
  }
  header += "}";
  // Pad with spaces (valid JSON whitespace) so the data starts 8-byte aligned.
  header.append((8 - header.size() % 8) % 8, ' ');
  require(header.size() <= kMaxSafetensorsHeader, "serialize_safetensors",
          "header of " + std::to_string(header.size()) + " bytes exceeds the readers' limit");

  std::vector<std::byte> out(8 + header.size() + offset);
  const std::uint64_t len = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::byte>((len >> (8 * i)) & 0xff);
  std::memcpy(out.data() + 8, header.data(), header.size());
  std::byte* dst = out.data() + 8 + header.size();
  for (const auto& [name, t] : file.tensors) {
    if (!t.bytes.empty()) std::memcpy(dst, t.bytes.data(), t.bytes.size());
    dst += t.bytes.size();
  }
  return out;
}

SafetensorsFile read_safetensors(const std::filesystem::path& path) {
  return parse_safetensors(read_file(path), path.string());
}

void write_safetensors(const std::filesystem::path& path, const SafetensorsFile& file) {
  write_file_atomic(path, serialize_safetensors(file));
}

}  // namespace tilesparse

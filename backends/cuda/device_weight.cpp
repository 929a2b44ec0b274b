// Upload/download of every weight format through its serialized arrays: one path for
// all formats, so a new format travels to the device without code here.
#include "backends/cuda/device_weight.hpp"

namespace tilesparse::gpu {

const DeviceArray& DeviceWeight::Impl::array(const std::string& name) const {
  const auto it = arrays.find(name);
  require(it != arrays.end(), "DeviceWeight", "the " + std::string(to_string(pattern)) + " weight has no array '" + name + "'");
  return it->second;
}

DeviceWeight::DeviceWeight() : impl_(std::make_unique<Impl>()) {}
DeviceWeight::~DeviceWeight() = default;
DeviceWeight::DeviceWeight(DeviceWeight&&) noexcept = default;
DeviceWeight& DeviceWeight::operator=(DeviceWeight&&) noexcept = default;

DeviceWeight DeviceWeight::upload(const Weight& w) {
  DeviceWeight d;
  Impl& impl = *d.impl_;
  impl.pattern = pattern_of(w);
  impl.k = k_of(w);
  impl.n = n_of(w);
  impl.dtype = dtype_of(w);
  FormatArrays fa = to_arrays(w);
  for (auto& [name, t] : fa.arrays) {
    DeviceArray a{t.type, t.shape, DeviceBuffer(t.bytes.size())};
    a.buffer.upload(t.bytes.data(), t.bytes.size());
    impl.arrays.emplace(name, std::move(a));
  }
  impl.meta = std::move(fa.meta);
  impl.host = std::make_shared<const Weight>(w);
  return d;
}

Weight DeviceWeight::download() const {
  FormatArrays fa;
  fa.meta = impl_->meta;
  for (const auto& [name, a] : impl_->arrays) {
    Tensor t{a.type, a.shape, {}};
    t.bytes.resize(a.buffer.bytes());
    a.buffer.download(t.bytes.data(), t.bytes.size());
    fa.arrays.emplace(name, std::move(t));
  }
  return weight_from_arrays(fa);
}

Pattern DeviceWeight::pattern() const { return impl_->pattern; }
std::int64_t DeviceWeight::k() const { return impl_->k; }
std::int64_t DeviceWeight::n() const { return impl_->n; }
DType DeviceWeight::dtype() const { return impl_->dtype; }

std::int64_t DeviceWeight::kept_columns() const {
  if (const auto* tw = std::get_if<TwWeight>(impl_->host.get())) return static_cast<std::int64_t>(tw->col_map.size());
  return impl_->n;
}

std::size_t DeviceWeight::device_bytes() const {
  std::size_t total = 0;
  for (const auto& [name, a] : impl_->arrays) total += a.buffer.bytes();
  return total;
}

}  // namespace tilesparse::gpu

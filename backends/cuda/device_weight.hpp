#pragma once
// What a DeviceWeight holds: the weight's serialized arrays on the device, plus the
// vendor library's form of it (built by the first matmul that needs it, then reused).
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tilesparse/core/error.hpp"
#include "tilesparse/gpu.hpp"

namespace tilesparse::gpu {

struct DeviceArray {
  ElemType type = ElemType::f32;
  std::vector<std::int64_t> shape;
  DeviceBuffer buffer;
};

// Base of the per-library prepared forms (descriptors, int32 indices, compressed 2:4).
struct VendorState {
  virtual ~VendorState() = default;
};

struct DeviceWeight::Impl {
  Pattern pattern = Pattern::dense;
  std::int64_t k = 0, n = 0;
  DType dtype = DType::f32;
  std::map<std::string, DeviceArray> arrays;
  std::map<std::string, std::string> meta;
  // Host copy: vendor forms that re-layout the weight (cuSPARSELt) start from it.
  std::shared_ptr<const Weight> host;
  std::unique_ptr<VendorState> vendor;

  const DeviceArray& array(const std::string& name) const;

  // The cached vendor form of type S, made by make() on first use.
  template <class S, class Make>
  S& vendor_state(Make&& make) {
    if (!vendor) vendor = make();
    auto* s = dynamic_cast<S*>(vendor.get());
    require(s != nullptr, "DeviceWeight", "weight was prepared for another kernel");
    return *s;
  }
};

}  // namespace tilesparse::gpu

#pragma once

// Strong identifier types (design G12): a NodeId is never confused with a PodUid at compile time.
//
//   NodeId n("gpu-node-7");
//   PodUid p("4b1c...");
//   absl::flat_hash_map<NodeId, int> by_node;   // hashable and comparable
//   // n == p;  does not compile

#include <compare>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

namespace gpusched {

template <class Tag>
class StringId {
 public:
  StringId() = default;
  explicit StringId(std::string value) : value_(std::move(value)) {}
  explicit StringId(std::string_view value) : value_(value) {}
  explicit StringId(const char* value) : value_(value) {}

  const std::string& str() const { return value_; }
  bool empty() const { return value_.empty(); }

  friend auto operator<=>(const StringId&, const StringId&) = default;
  friend bool operator==(const StringId&, const StringId&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const StringId& id) {
    return H::combine(std::move(h), id.value_);
  }
  friend std::ostream& operator<<(std::ostream& os, const StringId& id) { return os << id.value_; }

 private:
  std::string value_;
};

struct NodeIdTag {};
struct PodUidTag {};
struct GangIdTag {};

// A node's name as Kubernetes knows it (metadata.name).
using NodeId = StringId<NodeIdTag>;
// A pod's metadata.uid (or namespace/name where no uid exists, as in traces).
using PodUid = StringId<PodUidTag>;
// A gang (PodGroup) as "namespace/name".
using GangId = StringId<GangIdTag>;

// The index of a GPU inside one node (0-based, as CUDA/NVML enumerate them).
class DeviceIndex {
 public:
  constexpr DeviceIndex() = default;
  constexpr explicit DeviceIndex(int32_t v) : v_(v) {}
  constexpr int32_t value() const { return v_; }
  friend constexpr auto operator<=>(DeviceIndex, DeviceIndex) = default;
  template <typename H>
  friend H AbslHashValue(H h, DeviceIndex d) {
    return H::combine(std::move(h), d.v_);
  }
  friend std::ostream& operator<<(std::ostream& os, DeviceIndex d) { return os << d.v_; }

 private:
  int32_t v_ = 0;
};

}  // namespace gpusched

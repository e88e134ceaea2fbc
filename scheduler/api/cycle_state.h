#pragma once

// Per-pod scheduling-cycle state with typed keys (design G3).
//
//   struct FitState : StateData {
//     PodResources req;
//     std::unique_ptr<StateData> Clone() const override { return std::make_unique<FitState>(*this); }
//   };
//   inline constexpr StateKey<FitState> kFitKey{"NodeResourcesFit/pre-filter"};
//
//   state.Write(kFitKey, std::make_unique<FitState>(...));          // PreFilter (mutable state)
//   absl::StatusOr<const FitState*> s = state.Read(kFitKey);         // Filter (const state)
//
// Key names are "<Plugin>/<purpose>" string literals (their storage must outlive the state).
// Filter and Score get `const CycleState&`, so writes happen only in single-threaded phases;
// concurrent Read calls are safe.

#include <memory>
#include <string_view>
#include <typeinfo>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "scheduler/api/node_info.h"

namespace gpusched::framework {

class ClusterSnapshot;  // handle.h

class StateData {
 public:
  virtual ~StateData() = default;
  virtual std::unique_ptr<StateData> Clone() const = 0;
};

template <class T>
struct StateKey {
  std::string_view name;
};

class CycleState {
 public:
  CycleState() = default;
  CycleState(const CycleState&) = delete;
  CycleState& operator=(const CycleState&) = delete;

  template <class T>
  void Write(StateKey<T> key, std::unique_ptr<T> value) {
    static_assert(std::is_base_of_v<StateData, T>);
    data_[key.name] = Entry{&typeid(T), std::move(value)};
  }

  // NotFound if nothing was written under the key; Internal if it holds another type.
  template <class T>
  absl::StatusOr<const T*> Read(StateKey<T> key) const {
    auto it = data_.find(key.name);
    if (it == data_.end()) {
      return absl::NotFoundError(absl::StrCat("cycle state has no \"", std::string(key.name), "\""));
    }
    if (*it->second.type != typeid(T)) {
      return absl::InternalError(absl::StrCat("cycle state \"", std::string(key.name), "\" has another type"));
    }
    return static_cast<const T*>(it->second.value.get());
  }

  template <class T>
  absl::StatusOr<T*> ReadMutable(StateKey<T> key) {
    absl::StatusOr<const T*> r = static_cast<const CycleState*>(this)->Read(key);
    if (!r.ok()) return r.status();
    return const_cast<T*>(*r);
  }

  template <class T>
  bool Contains(StateKey<T> key) const {
    return data_.contains(key.name);
  }

  template <class T>
  void Erase(StateKey<T> key) {
    data_.erase(key.name);
  }

  // The model this cycle reads: set by the runtime before PreFilter (a request's snapshot in the
  // extender, the simulator's cache in SchedulePod). Plugins reach it through
  // SnapshotOf(state, handle) (handle.h); null only in plugin unit tests that do not set it.
  const ClusterSnapshot* snapshot() const { return snapshot_; }
  void set_snapshot(const ClusterSnapshot* snapshot) { snapshot_ = snapshot; }

  // A deep copy (for preemption and what-if evaluation).
  std::unique_ptr<CycleState> Clone() const {
    auto out = std::make_unique<CycleState>();
    out->snapshot_ = snapshot_;
    for (const auto& [name, entry] : data_) {
      out->data_[name] = Entry{entry.type, entry.value ? entry.value->Clone() : nullptr};
    }
    return out;
  }

 private:
  struct Entry {
    const std::type_info* type = nullptr;
    std::unique_ptr<StateData> value;
  };
  absl::flat_hash_map<std::string_view, Entry> data_;
  const ClusterSnapshot* snapshot_ = nullptr;
};

// The devices chosen for the pod on its node. A Reserve plugin that chooses devices writes it
// (the first such plugin in profile order wins: later ones see it and keep it); the framework
// assumes the pod with it, and Bind plugins hand it to the node.
struct DeviceAssignment final : StateData {
  std::vector<GpuShare> shares;
  std::string chosen_by;  // plugin name, for logs
  std::unique_ptr<StateData> Clone() const override {
    return std::make_unique<DeviceAssignment>(*this);
  }
};
inline constexpr StateKey<DeviceAssignment> kDeviceAssignmentKey{"framework/device-assignment"};

}  // namespace gpusched::framework

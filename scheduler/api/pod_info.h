#pragma once

// What the scheduler knows about a pod: identity, priority, resource requests and constraints.
//
//   PodInfo pod;
//   pod.uid = PodUid("uid-1"); pod.name = "train-0"; pod.namespace_name = "ml";
//   pod.requests.cpu = MilliCpu(4000);
//   pod.requests.gpu = GpuRequest::Whole(2, "A100-SXM4-80GB");   // 2 whole A100s
//   pod.requests.gpu = GpuRequest::Share(GpuMilli(250), GpuMemMiB(4096));  // 1/4 of one GPU, 4 GiB
//
// Plain data, copyable; thread-compatible.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/ids.h"
#include "common/quantity.h"

namespace gpusched::framework {

// GPUs a pod asks for. Two shapes:
//  - whole GPUs: `count` >= 1 devices, each taken exclusively (milli_per_gpu == 1000);
//    `memory_per_gpu`, if set, is the minimum device memory;
//  - a share of one GPU: count == 1, milli_per_gpu in [0, 1000) and/or memory_per_gpu > 0; the
//    device keeps serving other shares.
// `models` lists the device models allowed (any of them; empty = any), compared exactly with
// GpuDevice::model, like openb's gpu_spec "V100M16|V100M32".
struct GpuRequest {
  int32_t count = 0;
  GpuMilli milli_per_gpu{0};
  GpuMemMiB memory_per_gpu{0};
  std::vector<std::string> models;

  static GpuRequest Whole(int32_t count, std::string model = "") {
    return GpuRequest{count, kOneGpu, GpuMemMiB(0), OneModel(std::move(model))};
  }
  static GpuRequest Share(GpuMilli milli, GpuMemMiB memory, std::string model = "") {
    return GpuRequest{1, milli, memory, OneModel(std::move(model))};
  }

  bool empty() const { return count == 0; }
  bool whole() const { return count > 0 && milli_per_gpu == kOneGpu; }
  // Total milli-GPU asked for (count * milli_per_gpu).
  GpuMilli total_milli() const { return milli_per_gpu * count; }
  bool AllowsModel(std::string_view model) const {
    if (models.empty()) return true;
    for (const std::string& m : models) {
      if (m == model) return true;
    }
    return false;
  }
  // "A100" or "V100M16|V100M32"; "" when any model will do.
  std::string ModelList() const {
    std::string out;
    for (const std::string& m : models) out += (out.empty() ? "" : "|") + m;
    return out;
  }
  friend bool operator==(const GpuRequest&, const GpuRequest&) = default;

 private:
  static std::vector<std::string> OneModel(std::string m) {
    if (m.empty()) return {};
    return {std::move(m)};
  }
};

// Checks the shape rules above; the message names the field.
absl::Status ValidateGpuRequest(const GpuRequest& req);

// The resources a pod consumes on a node.
struct PodResources {
  MilliCpu cpu{0};
  MemoryBytes memory{0};
  GpuRequest gpu;
  friend bool operator==(const PodResources&, const PodResources&) = default;
};

enum class TaintEffect : uint8_t { kNoSchedule, kPreferNoSchedule, kNoExecute };

struct Toleration {
  std::string key;     // empty with exists=true tolerates every taint
  bool exists = false; // operator Exists (any value) instead of Equal
  std::string value;
  std::optional<TaintEffect> effect;  // nullopt: every effect
};

// Membership of a gang (PodGroup): no member binds unless `min_member` members can be placed.
// Every declaration form users write (scheduler-plugins and upstream PodGroups, Volcano,
// Koordinator, Kueue, our own annotations) resolves to this one model
// (plugins/gang/declaration.h).
struct GangRef {
  GangId id;                 // "namespace/name"
  int32_t min_member = 1;    // the quorum
  int32_t total_member = 0;  // replicas when declared (elastic gangs: > min_member); 0 unknown
  // How long members may wait for the quorum; nullopt: the gang plugin's default.
  std::optional<absl::Duration> timeout;
  // Which API declared it, for messages, e.g. "scheduling.x-k8s.io/v1alpha1 PodGroup".
  std::string source;
  // A PodGroup's minResources: an attempt starts only when this much is free in the cluster
  // (CPU, memory, whole GPUs); all zero: no such gate.
  PodResources min_resources;
  friend bool operator==(const GangRef&, const GangRef&) = default;
};

struct PodInfo {
  PodUid uid;
  std::string namespace_name = "default";
  std::string name;
  int32_t priority = 0;
  absl::Time created = absl::UnixEpoch();
  PodResources requests;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::map<std::string, std::string> node_selector;  // every pair must match a node label
  std::vector<Toleration> tolerations;
  // spec.schedulingGroup.podGroupName (upstream gang scheduling, KEP-4671, 1.36+); empty if unset.
  std::string scheduling_group;
  // spec.workloadRef (Kubernetes 1.35, scheduling.k8s.io/v1alpha1 Workload): the Workload in the
  // pod's namespace, the pod group inside it, and an optional replica key that splits one pod
  // group into independent gangs.
  struct WorkloadRef {
    std::string name;
    std::string pod_group;
    std::string replica_key;
    friend bool operator==(const WorkloadRef&, const WorkloadRef&) = default;
  };
  std::optional<WorkloadRef> workload_ref;
  // Capacity a gang's plan holds for a member not bound yet (LiveScheduler), never a real pod:
  // plugins must not count it as demand (FGD's observed typical pods skip it).
  bool placeholder = false;
  std::optional<GangRef> gang;

  // "namespace/name", for messages.
  std::string FullName() const { return namespace_name + "/" + name; }
};

}  // namespace gpusched::framework

#pragma once

// A node as the scheduler models it: capacity, labels, taints, and one GpuSlot per device
// (design G10) with its free milli-GPU and free memory, so that a placement names GPUs, not only
// a node.
//
//   ASSIGN_OR_RETURN(NodeInfo node, NodeInfo::Create(spec));
//   std::optional<std::vector<GpuShare>> gpus = TryAllocate(node, pod.requests.gpu);
//   if (gpus) RETURN_IF_ERROR(node.AddPod(pod.requests, *gpus));   // all-or-nothing
//   ...
//   RETURN_IF_ERROR(node.RemovePod(pod.requests, *gpus));          // exact inverse
//
// Thread-compatible: concurrent const access is safe (the framework's parallel Filter/Score only
// reads); mutation happens between scheduling phases on one thread.

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/ids.h"
#include "common/quantity.h"
#include "scheduler/api/pod_info.h"
#include "topology/gpu_topology.h"

namespace gpusched::framework {

struct Taint {
  std::string key;
  std::string value;
  TaintEffect effect = TaintEffect::kNoSchedule;
  friend bool operator==(const Taint&, const Taint&) = default;
};

// One GPU as reported by the node agent (or a trace).
struct GpuDevice {
  std::string model;       // e.g. "A100-SXM4-80GB"; compared exactly with GpuRequest::model
  GpuMemMiB memory{0};     // device memory
  bool healthy = true;     // unhealthy devices get no new pods
  int32_t topology_group = -1;  // handle into topology/ (NVLink island / NUMA); -1 unknown
  // The share of the device's throughput its tenants can still get, measured by the node
  // agent's probes (1: idle or not measured; 0.4: others take 60 %). The GpuHeadroom score reads
  // it, and FGD and NodeResourcesFit break ties between equally good devices by it.
  double headroom = 1.0;
  friend bool operator==(const GpuDevice&, const GpuDevice&) = default;
};

struct NodeSpec {
  NodeId name;
  std::map<std::string, std::string> labels;
  std::vector<Taint> taints;
  bool unschedulable = false;  // cordoned (spec.unschedulable)
  MilliCpu cpu{0};             // allocatable
  MemoryBytes memory{0};       // allocatable
  int32_t max_pods = 110;
  std::vector<GpuDevice> gpus;  // index == DeviceIndex
  // How the GPUs are wired (NVLink, PCIe, NUMA); null when unknown. GPU i of the topology is
  // gpus[i]. Shared and immutable: nodes of one machine type share one object.
  std::shared_ptr<const topology::GpuTopology> topology;
  friend bool operator==(const NodeSpec&, const NodeSpec&) = default;
};

// A device's state: its spec plus what is still free.
struct GpuSlot {
  GpuDevice device;
  GpuMilli milli_free = kOneGpu;
  GpuMemMiB memory_free{0};
  int32_t pods = 0;  // pods holding a part of this device

  bool fully_free() const { return milli_free == kOneGpu && memory_free == device.memory; }
  friend bool operator==(const GpuSlot&, const GpuSlot&) = default;
};

// A part of one device given to a pod. A whole GPU is {index, 1000, all of its memory}.
struct GpuShare {
  DeviceIndex gpu;
  GpuMilli milli{0};
  GpuMemMiB memory{0};
  friend bool operator==(const GpuShare&, const GpuShare&) = default;
};

// The node's record. The fields every Filter and Score reads for every candidate (capacity, what
// is requested, GPU aggregates, pod count) sit together in its first cache line, copied out of
// the spec where needed, and the record is cache-line aligned: a pass over thousands of nodes
// touches one or two lines per node, which the framework prefetches ahead of the plugins
// (framework.cc). Everything else (spec, labels, devices) is read only by the plugins that need
// it.
class alignas(64) NodeInfo {
 public:
  // Validates the spec (name set, non-negative capacities, GPU memory > 0, max_pods >= 0).
  static absl::StatusOr<NodeInfo> Create(NodeSpec spec);

  const NodeSpec& spec() const { return spec_; }
  const NodeId& name() const { return spec_.name; }
  // Allocatable capacity (the spec's cpu, memory, max_pods; the number of devices).
  MilliCpu cpu_capacity() const { return cpu_capacity_; }
  MemoryBytes memory_capacity() const { return memory_capacity_; }
  int32_t max_pods() const { return max_pods_; }
  int32_t gpu_count() const { return gpu_count_; }
  // Cordoned (spec.unschedulable) or carrying taints: TaintToleration has something to check.
  bool cordoned_or_tainted() const { return cordoned_or_tainted_; }
  MilliCpu cpu_requested() const { return cpu_requested_; }
  MemoryBytes memory_requested() const { return memory_requested_; }
  MilliCpu cpu_free() const { return cpu_capacity_ - cpu_requested_; }
  MemoryBytes memory_free() const { return memory_capacity_ - memory_requested_; }
  int32_t pod_count() const { return pod_count_; }
  const std::vector<GpuSlot>& gpus() const { return gpus_; }
  // Milli-GPU in use over all devices.
  GpuMilli gpu_milli_used() const { return GpuMilli(gpu_milli_used_); }
  // Changes on every AddPod/RemovePod: plugins may cache what they derive from a node by
  // (node, generation).
  uint64_t generation() const { return generation_; }
  // For copies of one model kept in step (the snapshot store's replicas): `same` is this node in
  // another copy, in the same state, so both may share one generation and a plugin's memo made
  // on one copy serves the other. The states must be equal (checked in debug builds).
  void ShareGeneration(const NodeInfo& same);
  // Healthy devices; of them, fully free ones; and the most milli-GPU free on one of them.
  int32_t healthy_gpus() const { return healthy_gpus_; }
  int32_t fully_free_gpus() const { return fully_free_gpus_; }
  GpuMilli max_free_milli() const { return GpuMilli(max_free_milli_); }
  // How many GPU pods of each shape run here: [0] shares of one GPU, [k] pods of k whole GPUs
  // (k = 1..kMaxShape-1), [kMaxShape-1] also counts larger ones. For affinity-style policies.
  static constexpr int kMaxShape = 10;
  const std::array<int32_t, kMaxShape>& gpu_pod_shapes() const { return gpu_pod_shapes_; }
  static int ShapeOf(const GpuRequest& req) {
    return req.whole() ? std::min(req.count, kMaxShape - 1) : 0;
  }

  // Records a pod: its CPU/memory and its `shares` of devices. All-or-nothing: every part is
  // checked first (capacity, pod count, device index, free milli and memory, no device twice),
  // and on error nothing changes. The error names the node and the part that does not fit.
  absl::Status AddPod(const PodResources& req, absl::Span<const GpuShare> shares);
  // The exact inverse of AddPod with the same arguments; same all-or-nothing checks.
  absl::Status RemovePod(const PodResources& req, absl::Span<const GpuShare> shares);

  // Equal state; the generation (a change counter) is not part of it.
  friend bool operator==(const NodeInfo& a, const NodeInfo& b) {
    return a.spec_ == b.spec_ && a.gpus_ == b.gpus_ && a.cpu_requested_ == b.cpu_requested_ &&
           a.memory_requested_ == b.memory_requested_ && a.gpu_milli_used_ == b.gpu_milli_used_ &&
           a.pod_count_ == b.pod_count_ && a.gpu_pod_shapes_ == b.gpu_pod_shapes_;
  }

 private:
  explicit NodeInfo(NodeSpec spec);

  // ---- First cache line: what the hot filters and scores read. Milli-GPU sums fit 32 bits (at
  // most 1,024 devices of 1,000).
  MilliCpu cpu_capacity_{0};
  MilliCpu cpu_requested_{0};
  MemoryBytes memory_capacity_{0};
  MemoryBytes memory_requested_{0};
  int32_t gpu_milli_used_ = 0;
  int32_t max_free_milli_ = 0;
  int32_t pod_count_ = 0;
  int32_t max_pods_ = 0;
  int32_t healthy_gpus_ = 0;
  int32_t fully_free_gpus_ = 0;
  int32_t gpu_count_ = 0;
  bool cordoned_or_tainted_ = false;
  // ---- Second line: what name lookups (the spec's name comes first) and memos keyed by state
  // read.
  uint64_t generation_ = 0;
  NodeSpec spec_;
  // ---- The rest.
  std::vector<GpuSlot> gpus_;
  std::array<int32_t, kMaxShape> gpu_pod_shapes_{};

  void RecomputeAggregates();
};

// Whether a GPU request can be met by a node, keeping "feasible" and "available" apart (G11).
enum class GpuFit : uint8_t {
  kFits,      // can be placed now
  kBusy,      // the node has the devices, but not enough is free now
  kNever,     // the node could not host it even if empty (model, count, device memory)
};
struct GpuFitResult {
  GpuFit fit = GpuFit::kFits;
  // Why not (empty when kFits): `static_reason` when the reason is one of the common ones kept
  // for the life of the process (no allocation per rejected node), else `reason`.
  std::string reason;
  const char* static_reason = nullptr;
  std::string_view why() const {
    return static_reason != nullptr ? std::string_view(static_reason) : std::string_view(reason);
  }
};
GpuFitResult CheckGpuFit(const NodeInfo& node, const GpuRequest& req);

// Which device serves a share of one GPU: the tightest that fits (binpack, keeps whole GPUs
// free) or the emptiest (spread, less interference between tenants), as in HAMi's
// gpu-scheduler-policy.
enum class GpuSelection : uint8_t { kBinpack, kSpread };

// Chooses devices for `req` on `node`, committing nothing; nullopt when it does not fit now.
//  - Whole GPUs: the `count` lowest-indexed healthy, fully free devices of the model. (The
//    gpu-topology plugin chooses better-connected sets; this is the baseline.)
//  - A share: best fit, the healthy device of the model that will have the least milli-GPU free
//    after placement; ties go to less memory left free, then to the lower index.
//    Example: devices free {0: 1000m/16Gi, 1: 300m/8Gi, 2: 500m/4Gi}, request 250m/2Gi:
//    device 1 leaves 50m, device 2 leaves 250m, device 0 leaves 750m, so device 1 is chosen and
//    the result is {gpu 1, 250m, 2048 MiB}. A 400m/6Gi request fits only device 0 (device 1 lacks
//    milli, device 2 lacks memory).
//  - A share with kSpread: the device that will have the most milli-GPU free after placement
//    (ties: more memory left, then the lower index); in the example, device 0.
// An empty request yields an empty vector.
std::optional<std::vector<GpuShare>> TryAllocate(const NodeInfo& node, const GpuRequest& req,
                                                 GpuSelection selection = GpuSelection::kBinpack);

// How many more pods of `req`'s size fit on `node` now by its resources alone (CPU, memory, pod
// count, GPUs; shares placed one by one as TryAllocate would), at most `cap`. Taints, selectors
// and cordon are the Filter plugins' business, not counted here.
int CountCopies(const NodeInfo& node, const PodResources& req, int cap = 1024);

}  // namespace gpusched::framework

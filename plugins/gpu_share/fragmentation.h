#pragma once

// GPU fragmentation as defined by the FGD paper (Weng et al., ATC'23, "Beware of Fragmentation"):
// how much of a node's idle GPU capacity the workload's typical pods could *not* use.
//
// For a node with free milli-GPU per device L[], free CPU c and model t, and a typical pod m
// (CPU c_m, g_m GPUs of milli_m each, allowed models):
//   - m asks for no GPU, may not use model t, or does not fit (too little CPU, fewer than g_m
//     devices with L[d] >= milli_m):  frag_m = sum(L)            (all idle GPU milli is lost to m)
//   - otherwise:                        frag_m = sum of L[d] < milli_m (the devices m cannot use)
// The node's fragmentation is F = sum_m p_m * frag_m, with p_m the popularity of m in the
// workload. The cluster's fragmentation amount is the sum over nodes.
//
//   FragmentationModel model(TypicalPodsFromCounts(counts, 0.95));
//   double f = model.NodeFrag("G2", MilliCpu(64000), {1000, 1000, 190, 0});
//
// Example: one typical pod (1 GPU, 500m, p = 1) on a node with L = {1000, 300}: the 500m pod fits
// on device 0, device 1's 300m is too small for it, so F = 300.
//
// Thread-compatible: NodeFrag is const and may run concurrently; FragCache is single-threaded.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/numeric/int128.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/quantity.h"
#include "scheduler/api/node_info.h"

namespace gpusched::plugins::gpu_share {

struct TypicalPod {
  MilliCpu cpu{0};
  int32_t gpu_count = 0;
  GpuMilli gpu_milli{0};            // per GPU; 1000 for whole GPUs
  std::vector<std::string> models;  // allowed GPU models; empty = any
  double weight = 0;                // popularity, normalized to sum 1 by the model
  friend bool operator==(const TypicalPod&, const TypicalPod&) = default;
};

// A pod shape with how often it occurs in the workload.
struct ShapeCount {
  TypicalPod shape;  // weight ignored
  int64_t count = 0;
};

// The typical-pod set of the FGD paper: distinct shapes sorted by count (descending; ties by
// shape for determinism), cut where the cumulative popularity first reaches `threshold`
// (0 < threshold <= 1; 0.95 in the paper), weights renormalized over the kept shapes.
std::vector<TypicalPod> TypicalPodsFromCounts(std::vector<ShapeCount> counts, double threshold);
// The same from real-valued weights (decayed counts); TypicalPod::weight holds each shape's.
std::vector<TypicalPod> TypicalPodsFromWeights(std::vector<TypicalPod> shapes, double threshold);

class FragmentationModel {
 public:
  explicit FragmentationModel(std::vector<TypicalPod> pods);

  // F for a node state. `free_milli` lists the free milli-GPU of each healthy device.
  double NodeFrag(std::string_view model, MilliCpu cpu_free,
                  absl::Span<const int32_t> free_milli) const;
  // F for a node of the cluster model (model of its first device; unhealthy devices excluded).
  double NodeFrag(const framework::NodeInfo& node) const;

  const std::vector<TypicalPod>& pods() const { return pods_; }

 private:
  struct Compiled {
    int64_t cpu;
    int32_t gpu_count;
    int32_t milli;
    std::vector<std::string> models;
    double weight;
  };
  std::vector<TypicalPod> pods_;
  std::vector<Compiled> compiled_;
};

// The state of a node as fragmentation sees it, packed into a hashable key: model (interned by
// the cache), free CPU and the sorted free milli of up to 8 devices.
struct NodeStateKey {
  absl::uint128 bits = 0;
  bool valid = false;  // false for nodes the key cannot describe (more than 8 GPUs, huge CPU)
  friend bool operator==(const NodeStateKey&, const NodeStateKey&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const NodeStateKey& k) {
    return H::combine(std::move(h), absl::Uint128High64(k.bits), absl::Uint128Low64(k.bits));
  }
};

// Memoizes NodeFrag by node state: clusters have few distinct node states, so most lookups hit.
// Single-threaded. Bounded: cleared when it grows past `max_entries`.
class FragCache {
 public:
  explicit FragCache(const FragmentationModel& model, size_t max_entries = 1 << 20)
      : model_(model), max_entries_(max_entries) {}

  NodeStateKey Key(std::string_view model, MilliCpu cpu_free, absl::Span<const int32_t> free_milli);
  double Frag(std::string_view model, MilliCpu cpu_free, absl::Span<const int32_t> free_milli);
  double Frag(const framework::NodeInfo& node);

 private:
  const FragmentationModel& model_;
  const size_t max_entries_;
  absl::flat_hash_map<std::string, uint32_t> model_ids_;
  absl::flat_hash_map<NodeStateKey, double> frag_;
};

// Nodes with more GPUs than this are not memoized (still computed exactly).
inline constexpr size_t kMaxKeyedGpus = 8;

// The free milli of each healthy device of `node`, and its model ("" without GPUs).
void FreeMilli(const framework::NodeInfo& node, std::vector<int32_t>& out);
// The same into a fixed buffer, allocation-free; returns the device count, which may exceed
// kMaxKeyedGpus (then only the first kMaxKeyedGpus are written).
size_t FreeMilli(const framework::NodeInfo& node, int32_t (&out)[kMaxKeyedGpus]);
std::string_view NodeModel(const framework::NodeInfo& node);

}  // namespace gpusched::plugins::gpu_share

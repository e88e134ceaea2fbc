#pragma once

// GpuTopology: places multi-GPU pods on the best-connected GPUs (topology/device_set_search.h)
// and prefers the nodes that can offer them.
//
//  - Applies to pods asking for 2 or more whole GPUs; other pods skip it (PreFilter Skip).
//  - Filter: with the pod annotation `gpusched.io/topology: required`, a node must be able to
//    give the pod a set as well connected as its machine allows at best (the best minimum
//    pairwise bandwidth of k GPUs on an empty node of that topology), and nodes without topology
//    information are UnschedulableAndUnresolvable. `gpusched.io/min-gpu-bandwidth-gbps: "100"`
//    sets an explicit floor instead. Default (`preferred`): no filtering.
//  - Score: the minimum pairwise bandwidth of the best free set (GB/s x 10), normalized so the
//    best node scores 100. Nodes without topology score 0.
//  - Reserve: writes that set as the pod's devices (list GpuTopology before NodeResourcesFit
//    and before policies that choose devices).
// Results are memoized by (topology, free-GPU mask, k), so scoring thousands of nodes of a few
// machine types costs a hash lookup per node.
//
//   - name: GpuTopology
//     weight: 2

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "scheduler/api/device_chooser.h"
#include "scheduler/api/handle.h"
#include "scheduler/api/plugin.h"
#include "scheduler/api/plugin_args.h"
#include "topology/device_set_search.h"

namespace gpusched::plugins::gpu_topology {

inline constexpr std::string_view kName = "GpuTopology";
inline constexpr char kTopologyAnnotation[] = "gpusched.io/topology";
inline constexpr char kMinBandwidthAnnotation[] = "gpusched.io/min-gpu-bandwidth-gbps";

// The GPUs of `node` that could take one whole GPU of `req` now, as a bit mask (node indices
// < 64; larger nodes use the first 64).
uint64_t FreeMask(const framework::NodeInfo& node, const framework::GpuRequest& req);

class GpuTopologyPlugin final : public framework::PreFilterPlugin,
                                public framework::FilterPlugin,
                                public framework::PreScorePlugin,
                                public framework::ScorePlugin,
                                public framework::DeviceChooser {
 public:
  static absl::StatusOr<std::unique_ptr<framework::Plugin>> New(const framework::PluginArgs& a,
                                                                framework::Handle& h);
  std::string_view Name() const override { return kName; }
  framework::Status PreFilter(framework::CycleState& state, const framework::PodInfo& pod,
                              framework::PreFilterResult& result) override;
  framework::Status Filter(const framework::CycleState& state, const framework::PodInfo& pod,
                           const framework::NodeInfo& node) const override;
  framework::Status PreScore(framework::CycleState& state, const framework::PodInfo& pod,
                             const std::vector<const framework::NodeInfo*>& feasible) override;
  framework::Status Score(const framework::CycleState& state, const framework::PodInfo& pod,
                          const framework::NodeInfo& node, int64_t& score) const override;
  framework::Status NormalizeScore(const framework::CycleState& state,
                                   const framework::PodInfo& pod,
                                   framework::NodeScoreList& scores) const override;

  // The best set for `count` GPUs on `topology` among `mask`, memoized. Thread-safe.
  std::optional<topology::DeviceSet> Best(const topology::GpuTopology& t, uint64_t mask,
                                          int count) const;

 private:
  // Multi-GPU pods on nodes with a topology; others are left to later plugins.
  bool ChoosesFor(const framework::PodInfo& pod, const framework::NodeInfo& node) const override;
  std::optional<std::vector<framework::GpuShare>> ChooseDevices(
      const framework::CycleState& state, const framework::PodInfo& pod, const framework::NodeInfo& node) override;

  struct Key {
    uint64_t topology;  // GpuTopology::id()
    uint64_t mask;
    int count;
    friend bool operator==(const Key&, const Key&) = default;
    template <typename H>
    friend H AbslHashValue(H h, const Key& k) {
      return H::combine(std::move(h), k.topology, k.mask, k.count);
    }
  };
  mutable std::mutex mu_;
  mutable absl::flat_hash_map<Key, std::optional<topology::DeviceSet>> memo_;  // guarded by mu_
};

}  // namespace gpusched::plugins::gpu_topology

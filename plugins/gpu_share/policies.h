#pragma once

// Placement policies for GPU-sharing clusters, as evaluated by the FGD paper (Weng et al.,
// ATC'23). Each is a Score plugin; those that also pick the devices inside the node implement
// Reserve and write kDeviceAssignmentKey (list them before NodeResourcesFit in a profile, whose
// Reserve then keeps their choice). Use them with NodeResourcesFit for feasibility:
//
//   - name: NodeResourcesFit
//     points: [PreFilter, Filter, Reserve]   # fit only; the policy scores
//   - name: FGD
//     args: {typicalPods: [{cpuMilli: 3152, gpuCount: 1, gpuMilli: 810, weight: 0.13}, ...]}
//
// | plugin        | node score                                              | device choice       |
// |---------------|---------------------------------------------------------|---------------------|
// | RandomFit     | one random feasible node scores 100, the others 0       | random fitting GPUs |
// | DotProduct    | 100 * (1 - <node free, pod request> / 2) over [cpu,     | the GPU with the    |
// |               | gpu]: cpu by the largest node's; gpu by the largest     | best score          |
// |               | node's GPUs, or for a share by one GPU (the device's)   |                     |
// | GpuClustering | bands: (75,100] node hosts only the pod's GPU shape,    | best fit            |
// |               | (50,75] it and others, (25,50] idle, (0,25] others;     | (NodeResourcesFit)  |
// |               | within a band fewer free GPUs is better                 |                     |
// | GpuPacking    | reuse shared GPUs > take free GPUs of a used node >     | best fit            |
// |               | open an idle node                                       |                     |
// | BestFit       | 100 * (1 - sum over cpu,gpu 0.5 * (free - req) / max),  | best fit            |
// |               | then min-max normalized                                 |                     |
// | FGD           | 100 * sigmoid((F_before - F_after) / 1000): the node    | the GPU minimizing  |
// |               | whose fragmentation grows least (fragmentation.h)       | F_after; ties: most |
// |               |                                                         | headroom            |
//
// GpuHeadroom (headroom.h) adds a score by the measured headroom of the GPUs that fit a share;
// FGD's device choice breaks its ties (GPUs leaving the same F_after, e.g. free whole GPUs) by
// headroom, so nothing changes while no headroom is measured (all 1).
// Randomness comes only from the Handle's random source, in PreScore and Reserve.

#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "common/mutex.h"
#include "plugins/gpu_share/fragmentation.h"
#include "scheduler/api/device_chooser.h"
#include "scheduler/api/handle.h"
#include "scheduler/api/plugin.h"
#include "scheduler/api/plugin_args.h"

namespace gpusched::plugins::gpu_share {

class RandomFit final : public framework::PreScorePlugin,
                        public framework::ScorePlugin,
                        public framework::DeviceChooser {
 public:
  static constexpr std::string_view kName = "RandomFit";
  explicit RandomFit(framework::Handle& h) : handle_(h) {}
  static absl::StatusOr<std::unique_ptr<framework::Plugin>> New(const framework::PluginArgs& a,
                                                                framework::Handle& h);
  std::string_view Name() const override { return kName; }
  framework::Status PreScore(framework::CycleState& state, const framework::PodInfo& pod,
                             const std::vector<const framework::NodeInfo*>& feasible) override;
  framework::Status Score(const framework::CycleState& state, const framework::PodInfo& pod,
                          const framework::NodeInfo& node, int64_t& score) const override;

 private:
  std::optional<std::vector<framework::GpuShare>> ChooseDevices(
      const framework::CycleState& state, const framework::PodInfo& pod, const framework::NodeInfo& node) override;
  framework::Handle& handle_;
};

class DotProduct final : public framework::PreScorePlugin,
                         public framework::ScorePlugin,
                         public framework::DeviceChooser {
 public:
  static constexpr std::string_view kName = "DotProduct";
  explicit DotProduct(framework::Handle& h) : handle_(h) {}
  static absl::StatusOr<std::unique_ptr<framework::Plugin>> New(const framework::PluginArgs& a,
                                                                framework::Handle& h);
  std::string_view Name() const override { return kName; }
  framework::Status PreScore(framework::CycleState& state, const framework::PodInfo& pod,
                             const std::vector<const framework::NodeInfo*>& feasible) override;
  framework::Status Score(const framework::CycleState& state, const framework::PodInfo& pod,
                          const framework::NodeInfo& node, int64_t& score) const override;

 private:
  std::optional<std::vector<framework::GpuShare>> ChooseDevices(
      const framework::CycleState& state, const framework::PodInfo& pod, const framework::NodeInfo& node) override;
  framework::Handle& handle_;
};

class GpuClustering final : public framework::PreScorePlugin, public framework::ScorePlugin {
 public:
  static constexpr std::string_view kName = "GpuClustering";
  explicit GpuClustering(framework::Handle& h) : handle_(h) {}
  static absl::StatusOr<std::unique_ptr<framework::Plugin>> New(const framework::PluginArgs& a,
                                                                framework::Handle& h);
  std::string_view Name() const override { return kName; }
  framework::Status PreScore(framework::CycleState& state, const framework::PodInfo& pod,
                             const std::vector<const framework::NodeInfo*>& feasible) override;
  framework::Status Score(const framework::CycleState& state, const framework::PodInfo& pod,
                          const framework::NodeInfo& node, int64_t& score) const override;

 private:
  framework::Handle& handle_;
};

class GpuPacking final : public framework::ScorePlugin {
 public:
  static constexpr std::string_view kName = "GpuPacking";
  static absl::StatusOr<std::unique_ptr<framework::Plugin>> New(const framework::PluginArgs& a,
                                                                framework::Handle& h);
  std::string_view Name() const override { return kName; }
  framework::Status Score(const framework::CycleState& state, const framework::PodInfo& pod,
                          const framework::NodeInfo& node, int64_t& score) const override;
};

class BestFit final : public framework::PreScorePlugin, public framework::ScorePlugin {
 public:
  static constexpr std::string_view kName = "BestFit";
  explicit BestFit(framework::Handle& h) : handle_(h) {}
  static absl::StatusOr<std::unique_ptr<framework::Plugin>> New(const framework::PluginArgs& a,
                                                                framework::Handle& h);
  std::string_view Name() const override { return kName; }
  framework::Status PreScore(framework::CycleState& state, const framework::PodInfo& pod,
                             const std::vector<const framework::NodeInfo*>& feasible) override;
  framework::Status Score(const framework::CycleState& state, const framework::PodInfo& pod,
                          const framework::NodeInfo& node, int64_t& score) const override;
  framework::Status NormalizeScore(const framework::CycleState& state,
                                   const framework::PodInfo& pod,
                                   framework::NodeScoreList& scores) const override;

 private:
  framework::Handle& handle_;
};

// typicalPods: [{cpuMilli, gpuCount, gpuMilli, models: [..], weight}] (required, non-empty).
// Also accepts FGD's observation keys (FgdObserve), which DecodeFgdObserve reads.
absl::StatusOr<std::vector<TypicalPod>> DecodeTypicalPods(const framework::PluginArgs& args);

// Live FGD: the typical pods learnt from the pods the scheduler sees, since a live scheduler has
// no trace to count them from.
//   - name: FGD
//     args:
//       typicalPods: [...]       # the prior (what to assume before anything is seen)
//       observedHalfLife: 2000   # pods; each pod seen counts, decayed by half every 2000 pods
//       observedRefresh: 128     # rebuild the fragmentation model every 128 pods seen
//       priorWeight: 64          # the prior counts as this many pods
// The model is the prior (weights scaled to priorWeight) plus the decayed counts of observed pod
// shapes, cut at the 95 % popularity threshold as the paper does. Observed at PreScore (each pod
// once: a retried pod is not counted again).
struct FgdObserve {
  int64_t half_life = 0;  // 0: off (the typical pods are fixed)
  int64_t refresh_every = 128;
  double prior_weight = 64;
  double threshold = 0.95;
};
absl::StatusOr<FgdObserve> DecodeFgdObserve(const framework::PluginArgs& args);
// The inverse, for programs that build profiles (the simulator).
framework::ArgValue EncodeTypicalPods(const std::vector<TypicalPod>& pods);
// What live FGD assumes before it has seen a pod: a few common shapes, equally likely.
std::vector<TypicalPod> GenericPrior();
// FGD's args for a live scheduler with no trace: the generic prior worth 16 pods, refined by the
// pods it observes (half-life 2,000 pods, model rebuilt every 128).
framework::PluginArgs ObservedFgdArgs();

// Thread-safe: concurrent requests may run PreScore/Score/Reserve at once. This cycle's scores
// live in the CycleState; the memos (fragmentation per node state, choice per node state and pod
// shape) are shared under mu_: PreScore looks up under a reader lock and computes only the misses
// under the writer lock, so requests for known shapes do not wait on each other.
class Fgd final : public framework::PreScorePlugin,
                  public framework::ScorePlugin,
                  public framework::DeviceChooser {
 public:
  static constexpr std::string_view kName = "FGD";
  // `handle` (optional) lends its worker pool to PreScore.
  explicit Fgd(std::vector<TypicalPod> typical, FgdObserve observe = {},
               framework::Handle* handle = nullptr);
  static absl::StatusOr<std::unique_ptr<framework::Plugin>> New(const framework::PluginArgs& a,
                                                                framework::Handle& h);
  std::string_view Name() const override { return kName; }
  framework::Status PreScore(framework::CycleState& state, const framework::PodInfo& pod,
                             const std::vector<const framework::NodeInfo*>& feasible) override;
  framework::Status Score(const framework::CycleState& state, const framework::PodInfo& pod,
                          const framework::NodeInfo& node, int64_t& score) const override;
  // Reads PreScore's scores by position.
  framework::Status ScoreRange(const framework::CycleState& state, const framework::PodInfo& pod,
                               const std::vector<const framework::NodeInfo*>& nodes, size_t begin,
                               size_t end, std::vector<framework::NodeScore>& scores) const override;

  // The node's score for `pod` and, for a share, the free milli of the device to use (of the
  // devices with that much free, Reserve takes the one with the most measured headroom, then
  // the lowest index; whole GPUs likewise take the free ones with the most headroom). Exposed
  // for tests.
  struct Choice {
    int64_t score = 0;
    int32_t device_free = -1;  // -1: not a share
  };
  Choice Evaluate(const framework::PodInfo& pod, const framework::NodeInfo& node)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The typical pods the model uses now (the prior until observations refresh it).
  std::vector<TypicalPod> typical_pods() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  std::optional<std::vector<framework::GpuShare>> ChooseDevices(
      const framework::CycleState& state, const framework::PodInfo& pod,
      const framework::NodeInfo& node) override;
  Choice EvaluateLocked(const framework::PodInfo& pod, const framework::NodeInfo& node)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint32_t ShapeIdLocked(const std::string& shape) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Counts `pod` once and rebuilds the model every refresh_every pods.
  void ObserveLocked(const framework::PodInfo& pod) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RebuildLocked(std::vector<TypicalPod> typical) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  const std::vector<TypicalPod> prior_;
  const FgdObserve observe_;
  framework::Handle* const handle_;

  mutable Mutex mu_;
  std::unique_ptr<FragmentationModel> model_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<FragCache> cache_ ABSL_GUARDED_BY(mu_);
  uint64_t epoch_ ABSL_GUARDED_BY(mu_) = 0;  // counts model rebuilds
  // Observed shapes: weight in units of scale_ (the newest pod adds scale_, which grows by
  // 2^(1/half_life) per pod: decay without touching every entry).
  absl::flat_hash_map<std::string, TypicalPod> observed_ ABSL_GUARDED_BY(mu_);
  double scale_ ABSL_GUARDED_BY(mu_) = 1.0;
  int64_t since_refresh_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<PodUid> recent_ ABSL_GUARDED_BY(mu_);  // pods counted lately (a retry is not new)
  absl::flat_hash_set<PodUid> recent_set_ ABSL_GUARDED_BY(mu_);
  // The state key of each node state seen, by NodeInfo::generation (unique over the process and
  // changed by every mutation, so one generation is one state of one node, and an entry never
  // goes stale; the map is cleared when it grows too large).
  absl::flat_hash_map<uint64_t, NodeStateKey> node_keys_ ABSL_GUARDED_BY(mu_);
  // Choice by (node state, pod shape): scores depend on nothing else.
  absl::flat_hash_map<std::pair<NodeStateKey, uint32_t>, Choice> memo_ ABSL_GUARDED_BY(mu_);
  // The score by (NodeInfo::generation, pod shape): what PreScore looks up first, one small
  // entry per node and shape, so a request over thousands of unchanged nodes makes one lookup
  // per node instead of two in larger tables. Also holds nodes the state key cannot describe.
  absl::flat_hash_map<std::pair<uint64_t, uint32_t>, int64_t> scores_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, uint32_t> shape_ids_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gpusched::plugins::gpu_share

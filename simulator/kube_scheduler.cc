#include "simulator/kube_scheduler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/numeric/int128.h"
#include "scheduler/runtime/framework.h"

namespace gpusched::simulator {

using framework::PodInfo;

uint64_t UniformBelow(std::mt19937_64& rng, uint64_t n) {
  const absl::uint128 limit = (absl::uint128(1) << 64) - ((absl::uint128(1) << 64) % n);
  for (;;) {
    const uint64_t x = rng();
    if (x < limit) return static_cast<uint64_t>((absl::uint128(x) * n) >> 64);
  }
}

// kube-scheduler 1.20's in-tree NodeResourcesLeastAllocated (cpu and memory, weight 1 each):
// the mean over the two of (capacity - requested) * 100 / capacity, the pod included.
int64_t LeastAllocatedScore(const framework::NodeInfo& n, const PodInfo& pod) {
  auto one = [](int64_t cap, int64_t req) -> int64_t {
    if (cap <= 0 || req > cap) return 0;
    return (cap - req) * 100 / cap;
  };
  const int64_t cpu = one(n.cpu_capacity().value(), (n.cpu_requested() + pod.requests.cpu).value());
  const int64_t mem = one(n.memory_capacity().value(),
                          (n.memory_requested() + pod.requests.memory).value());
  return (cpu + mem) / 2;
}

// kube-scheduler 1.20's NodeResourcesBalancedAllocation: (1 - |cpu fraction - memory fraction|)
// * 100, 0 when either fraction reaches 1.
int64_t BalancedAllocationScore(const framework::NodeInfo& n, const PodInfo& pod) {
  auto frac = [](int64_t cap, int64_t req) { return cap > 0 ? double(req) / double(cap) : 1.0; };
  const double cpu = frac(n.cpu_capacity().value(), (n.cpu_requested() + pod.requests.cpu).value());
  const double mem =
      frac(n.memory_capacity().value(), (n.memory_requested() + pod.requests.memory).value());
  if (cpu >= 1 || mem >= 1) return 0;
  return static_cast<int64_t>((1 - std::abs(cpu - mem)) * 100);
}

// What kube-scheduler does with our priorities: adds priority * weight * (100 / 10) to its own
// in-tree scores and takes the best node, ties broken uniformly at random (selectHost).
//
// The in-tree scores add at most 2 * kMaxNodeScore, so a node whose extender part trails the
// highest priority among the nodes in the model by more than that can neither win nor tie: it is
// not looked up or scored. Only the order in which the random stream meets ties changes (a tie
// between two such nodes, overtaken later, no longer draws), not the choice among the final
// best, which stays uniform.
NodeId KubeSchedulerPick(const framework::ClusterSnapshot& model, const PodInfo& pod,
                         const std::vector<NodeId>& names, const std::vector<int64_t>& priorities,
                         int64_t weight, std::mt19937_64& rng) {
  const int64_t step = weight * (framework::kMaxNodeScore / runtime::Framework::kMaxExtenderPriority);
  constexpr int64_t kInTreeMax = 2 * framework::kMaxNodeScore;
  // A lookup only where the running highest rises: a few per call.
  int64_t top = std::numeric_limits<int64_t>::min();
  for (size_t i = 0; i < names.size(); ++i) {
    if (priorities[i] > top && model.FindNode(names[i]) != nullptr) top = priorities[i];
  }
  if (top == std::numeric_limits<int64_t>::min()) return NodeId();  // none is in the model
  size_t chosen = names.size();
  int64_t best = std::numeric_limits<int64_t>::min();
  uint64_t ties = 0;
  for (size_t i = 0; i < names.size(); ++i) {
    const int64_t priority = priorities[i];
    if ((top - priority) * step > kInTreeMax) continue;
    const framework::NodeInfo* n = model.FindNode(names[i]);
    if (n == nullptr) continue;
    const int64_t total =
        priority * step + LeastAllocatedScore(*n, pod) + BalancedAllocationScore(*n, pod);
    if (total > best) {
      best = total;
      chosen = i;
      ties = 1;
    } else if (total == best && UniformBelow(rng, ++ties) == 0) {
      chosen = i;
    }
  }
  return chosen < names.size() ? names[chosen] : NodeId();
}

runtime::ScheduleResult KubeSchedulerDriver::Schedule(const PodInfo& pod) {
  runtime::ScheduleResult r;
  cache::SnapshotRef snap = live_.Snapshot();
  if (names_.size() != snap->Nodes().size()) {
    names_.clear();
    for (const framework::NodeInfo* n : snap->Nodes()) names_.push_back(n->name());
  }
  runtime::Framework::FilterVerdicts v = live_.Filter(pod, names_);
  if (!v.error.ok() || v.feasible.empty()) {
    r.status = v.error.ok() ? framework::Status::Unschedulable("no node fits") : v.error;
    return r;
  }
  const std::vector<NodeId> feasible = v.FeasibleNames(names_);
  absl::StatusOr<runtime::Framework::Priorities> p = live_.Prioritize(pod, feasible);
  if (!p.ok()) {
    r.status = framework::Status::FromError(p.status());
    return r;
  }
  r.node = KubeSchedulerPick(*snap, pod, feasible, p->priority, weight_, rng_);
  snap.reset();
  runtime::LiveScheduler::BindResult b = live_.Bind(pod, r.node);
  r.status = b.status;
  r.gpus = b.gpus;
  if (b.status.ok()) (void)live_.OnPodBound(pod, r.node, b.gpus);  // the informer's Add
  return r;
}

}  // namespace gpusched::simulator

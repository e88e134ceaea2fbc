#pragma once

// What kube-scheduler does with an extender's answers, for the simulator's extender path:
// its in-tree scores (1.20's NodeResourcesLeastAllocated and NodeResourcesBalancedAllocation over
// cpu and memory, weight 1 each) plus the extender's 0-10 priority times its weight times 10, the
// highest total wins, ties at random (selectHost). deploy/README.md has the arithmetic.

#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "common/ids.h"
#include "scheduler/runtime/live_scheduler.h"
#include "scheduler/api/handle.h"

namespace gpusched::simulator {

// A uniform integer in [0, n) from the raw 64-bit stream (no std::*_distribution, whose output
// differs between standard libraries): multiply-shift with rejection. The simulator's shuffles
// use it too, so runs replay exactly everywhere.
uint64_t UniformBelow(std::mt19937_64& rng, uint64_t n);

int64_t LeastAllocatedScore(const framework::NodeInfo& n, const framework::PodInfo& pod);
int64_t BalancedAllocationScore(const framework::NodeInfo& n, const framework::PodInfo& pod);

// The node kube-scheduler binds: `priorities` as /prioritize answered them for `names` (one
// each), `weight` the extender's configured weight; `rng` breaks ties (kube-scheduler's own
// randomness).
NodeId KubeSchedulerPick(const framework::ClusterSnapshot& model, const framework::PodInfo& pod,
                         const std::vector<NodeId>& names, const std::vector<int64_t>& priorities,
                         int64_t weight, std::mt19937_64& rng);

// Plays kube-scheduler against a LiveScheduler, one pod at a time: filter over every node of the
// model (the candidate list is rebuilt only when the node count changes), prioritize, its own
// pick (KubeSchedulerPick), bind, then the informer's confirmation of the Binding.
class KubeSchedulerDriver {
 public:
  // `seed` feeds kube-scheduler's own tie-breaking, apart from the profile's random source.
  KubeSchedulerDriver(runtime::LiveScheduler& live, int64_t weight, uint64_t seed)
      : live_(live), weight_(weight), rng_(seed) {}
  runtime::ScheduleResult Schedule(const framework::PodInfo& pod);

 private:
  runtime::LiveScheduler& live_;
  const int64_t weight_;
  std::mt19937_64 rng_;
  std::vector<NodeId> names_;
};

}  // namespace gpusched::simulator

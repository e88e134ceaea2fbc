#pragma once

// The simulator: replays a workload on a cluster through the same framework and plugins as the
// extender, with a simulated clock and random source.
//
//   Workload w{nodes, pods};                       // from trace/openb.h or trace/sample.h
//   ASSIGN_OR_RETURN(RunResult r, RunOnce(w, profile, /*seed=*/42, SimOptions{}));
//
// Modes (SimOptions::mode):
//  - "inflation", the FGD paper's experiment: pods sorted by name are shuffled by the seed, pods
//    sampled with replacement are appended until the total GPU request would exceed
//    `inflation` (1.3) times the cluster's GPUs; each pod is scheduled once, in order; a pod
//    that does not fit fails and is never retried; nothing is deleted.
//  - "replay": pods arrive at creation_time and leave at deletion_time; a pod that does not fit
//    waits in a queue (queue order of the profile) and is retried whenever a pod leaves; a
//    waiting pod whose deletion time passes is counted as failed. Events run in (time, sequence)
//    order on a SimClock.
// After every scheduling attempt the run records allocated and arrived GPU milli and the
// cluster's fragmentation (fragmentation.h with the workload's typical pods); RunResult::curve
// averages them per whole percent of arrived workload. Same inputs and seed give the same
// decisions, hence the same decision_log_digest, whatever the thread count.

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "scheduler/api/registry.h"
#include "scheduler/runtime/profile.h"
#include "simulator/results.h"
#include "simulator/trace/openb.h"

namespace gpusched::simulator {

struct Workload {
  std::vector<trace::OpenbNode> nodes;
  std::vector<trace::OpenbPod> pods;
};

struct SimOptions {
  std::string mode = "inflation";   // inflation | replay
  double inflation = 1.3;           // inflation mode: total GPU request target / capacity
  double typical_threshold = 0.95;  // FGD typical pods: cumulative popularity cut
  // Where FGD's typical pods come from: "trace" (counted from the whole trace, as the paper's
  // simulator does: the future is known) or "observed" (learnt from the pods seen so far,
  // starting from a weak generic prior: what the live extender can do).
  std::string typical_pods = "trace";
  // Ties between equally scored nodes: "first" (nodes are added in an order shuffled by the
  // seed, and ties go to the first, as in the FGD paper's simulator) or "random" (uniform, as
  // kube-scheduler does).
  std::string tie_break = "first";
  // GPU model -> topology preset (topology/presets.h) for nodes of that model whose GPU count
  // matches the preset, e.g. {"G2", "dgx1-v100"}. Others have no topology.
  std::map<std::string, std::string> topology_presets;
  // How pods reach the plugins:
  //  "framework": Framework::SchedulePod, one full cycle per pod (the simulator's own loop);
  //  "extender":  the way kube-scheduler drives the extender: Filter over every node,
  //               Prioritize, then kube-scheduler's own choice (our 0-10 score times
  //               `extender_weight` times 10, plus its in-tree LeastAllocated and
  //               BalancedAllocation scores, ties at random), then Bind, then the informer's
  //               confirmation. With a large enough weight both give the same decisions.
  std::string path = "framework";
  int64_t extender_weight = 100;
  // Threads for Filter/Score inside one run (the framework's worker pool). RunMany always uses
  // 1 and runs several runs at once instead, which is what pays on traces like openb.
  int parallelism = 1;
  // When set, every decision is appended here, one line per scheduling attempt.
  std::string* decision_log = nullptr;
};


// InvalidArgument naming the first option out of its set (mode, tie_break, path, typical_pods,
// extender_weight); RunOnce makes these checks first.
absl::Status ValidateSimOptions(const SimOptions& options);

absl::StatusOr<RunResult> RunOnce(const Workload& workload, const runtime::Profile& profile,
                                  uint64_t seed, const SimOptions& options);

// Every (profile, seed) pair, `threads` runs at a time; results in (profile, seed) order.
// `progress` (may be empty) is called after each run, from the calling thread's perspective in
// completion order, with (done, total, result).
absl::StatusOr<std::vector<RunResult>> RunMany(
    const Workload& workload, const std::vector<runtime::Profile>& profiles,
    const std::vector<uint64_t>& seeds, const SimOptions& options, int threads,
    const std::function<void(int, int, const RunResult&)>& progress);

// GPU device memory assumed for a trace's model names (openb gives none): P100/T4/V100M16 16 GiB,
// V100M32 32 GiB, A10 24 GiB, A100 80 GiB, anything else 32 GiB.
GpuMemMiB DeviceMemoryFor(std::string_view model);

}  // namespace gpusched::simulator

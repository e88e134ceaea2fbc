#pragma once

// What one simulator run produces, and the per-policy summary over seeds. Plain data shared by
// the engine (which fills it) and the report writer (report.h).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace gpusched::simulator {

// One point of a run's allocation curve. x is the arrived GPU request (failed pods included) as
// a whole percent of cluster GPU capacity; the values are the mean over every scheduling event
// whose rounded arrived percentage equals x (the FGD paper's merge_alloc_discrete.py method).
struct CurvePoint {
  int arrived_pct = 0;
  double unallocated_pct = 0;   // 100 - allocated GPU milli / capacity
  double frag_amount_pct = 0;   // cluster fragmentation amount / capacity
  double frag_ratio_pct = 0;    // fragmentation amount / idle GPU milli
  int64_t failed_pods = 0;      // failed so far (at the last event of this x)
};

// A new field here must also go into the shard file (simulator/shard.cc, RunJson and ReadRun):
// a sharded sweep carries every field from the machine that ran it to the merge.
struct RunResult {
  std::string policy;
  uint64_t seed = 0;
  std::string mode;  // "inflation" or "replay"
  int64_t nodes = 0;
  int64_t gpu_capacity_milli = 0;
  int64_t pods_arrived = 0;
  int64_t pods_scheduled = 0;
  int64_t pods_failed = 0;
  std::vector<CurvePoint> curve;  // ascending arrived_pct
  // The paper's KPI: unallocated GPU % at 100 % and 130 % arrived (nullopt if not reached).
  std::optional<double> unallocated_at_100;
  std::optional<double> unallocated_at_130;
  // Fragmentation of the empty cluster, % of capacity (about 13.9 on openb).
  double empty_frag_amount_pct = 0;
  // Multi-GPU pods (2+ whole GPUs) placed on nodes with a known topology, and the mean of the
  // minimum pairwise bandwidth (GB/s) among each one's GPUs: what the topology plugin improves.
  int64_t multi_gpu_pods_on_topology = 0;
  double mean_multi_gpu_min_bandwidth_gbps = 0;
  // The same by GPU count: count -> (pods, mean min bandwidth GB/s).
  std::map<int, std::pair<int64_t, double>> min_bandwidth_by_gpu_count;
  // Per node of the model (in its order), the allocated share of its GPUs in milli (0..1000) at
  // the end of the run; -1 for a node without GPUs. The report's heat map.
  std::vector<int16_t> node_gpu_alloc_milli;
  // Hex digest of the decision log: equal seeds and inputs give equal digests.
  std::string decision_log_digest;
  double wall_seconds = 0;  // informational; not part of any decision
};

struct PolicySummary {
  std::string policy;
  int runs = 0;
  double mean_unalloc_100 = 0, sd_unalloc_100 = 0;  // sample sd over seeds
  double mean_unalloc_130 = 0, sd_unalloc_130 = 0;
  double mean_failed_pods = 0;
  double mean_wall_seconds = 0;
};

// Groups runs by policy (in first-appearance order) and computes means and sample standard
// deviations (n - 1; 0 for a single run). Runs missing a KPI are left out of that KPI.
std::vector<PolicySummary> Summarize(const std::vector<RunResult>& runs);

}  // namespace gpusched::simulator

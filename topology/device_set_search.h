#pragma once

// The best k GPUs of a node for one job.
//
//   ASSIGN_OR_RETURN(DeviceSet s, BestDeviceSet(topology, /*free=*/{0,1,2,3,4,5,6,7}, /*k=*/4));
//   s.gpus;            // e.g. {0, 1, 2, 3}: a fully NVLink-connected quad on a DGX-1
//   s.min_bandwidth;   // GB/s, the slowest pair
//
// Quality, compared in order (higher is better):
//   1. the minimum pairwise bandwidth of the set (what all-reduce waits on);
//   2. the ring all-reduce bandwidth: the best ring's slowest hop;
//   3. NUMA locality: fewer sockets spanned (ties: the socket of `preferred_numa`, if set);
//   4. what is left: the quality of the best k-set of the remaining free GPUs (for each common
//      size), so a single GPU is not taken out of a fully connected quad when a loose one exists.
// Exact (every k-subset) for up to kExactLimit free GPUs; beyond that a greedy heuristic grows
// sets from seed GPUs by best minimum bandwidth (see the .cc for the measured gap).
// Trivial answers: k == number of free GPUs takes them all; k == 1 beyond kExactLimit takes the
// most loosely connected GPU (preferred_numa first).
// Bounded: worst case O(n^2 + S * (16 * (k^2 + n*k) + n^2)) for n free GPUs, k wanted and
// S <= max(8, 3e7 / (n*k + n^2)) seeds: 1,000 GPUs answer in well under a second for any k.

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "topology/gpu_topology.h"

namespace gpusched::topology {

inline constexpr int kExactLimit = 16;

struct DeviceSet {
  std::vector<int> gpus;      // ascending
  double min_bandwidth = 0;   // GB/s
  double ring_bandwidth = 0;  // GB/s
  int sockets = 0;            // distinct NUMA nodes spanned
};

struct SearchOptions {
  int preferred_numa = -1;  // the pod's CPUs' socket, if known
};

// InvalidArgument when k < 1, k > number of free GPUs, or a free index is out of range.
absl::StatusOr<DeviceSet> BestDeviceSet(const GpuTopology& t, const std::vector<int>& free, int k,
                                        const SearchOptions& options = {});

}  // namespace gpusched::topology

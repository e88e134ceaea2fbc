#pragma once

// Warnings about a workload that the simulator can run but that is probably not what its author
// meant: they are printed with the results (table and --json), never silently dropped.
//
//   std::vector<std::string> w = WorkloadWarnings(workload, options);
//
//  - a topology mapping (SimOptions::topology_presets) whose model no node has, or whose preset's
//    GPU count matches no node of that model (the mapping then changes nothing);
//  - pods that fit no node even on an empty cluster (too much CPU or memory, more GPUs than any
//    node of an allowed model has, or a model no node has): they can only fail, and every
//    policy's numbers include them.
// Cost: O(nodes x distinct pod shapes + pods log pods). Stateless; thread-safe.

#include <string>
#include <vector>

#include "simulator/engine.h"

namespace gpusched::simulator {

std::vector<std::string> WorkloadWarnings(const Workload& workload, const SimOptions& options);

}  // namespace gpusched::simulator

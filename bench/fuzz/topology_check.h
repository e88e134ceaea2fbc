#pragma once

// The round trip both topology fuzzers check: TopologyToJson -> ParseTopologyJson gives back the
// same GPUs, NUMA nodes, bandwidths and NVLink counts.

#include <utility>

#include "bench/fuzz/fuzz_check.h"
#include "topology/gpu_topology.h"
#include "topology/topology_json.h"

namespace gpusched::fuzz {

// Returns the topology read back.
inline topology::GpuTopology CheckJsonRoundTrip(const topology::GpuTopology& t) {
  absl::StatusOr<topology::GpuTopology> back = topology::ParseTopologyJson(topology::TopologyToJson(t));
  CheckOk(back.status(), "ParseTopologyJson(TopologyToJson(parsed))");
  const int n = t.gpu_count();
  FUZZ_CHECK(back->gpu_count() == n);
  for (int a = 0; a < n; ++a) {
    FUZZ_CHECK(back->NumaOf(a) == t.NumaOf(a));
    for (int b = 0; b < n; ++b) {
      FUZZ_CHECK(back->Bandwidth(a, b) == t.Bandwidth(a, b));
      FUZZ_CHECK(back->NvLinks(a, b) == t.NvLinks(a, b));
    }
  }
  return *std::move(back);
}

}  // namespace gpusched::fuzz

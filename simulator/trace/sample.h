#pragma once

// A generator of small openb-like clusters and workloads, so the demo and tests run without the
// public trace. Deterministic for a seed. The model mix, node shapes and pod-spec mix follow the
// statistics of the openb default trace (../shared/docs/openb-fgd.md §1.1): mostly 8-GPU "G2"
// nodes, 2-/4-GPU T4 nodes, some P100/V100; about 13 % CPU-only pods, 38 % GPU-sharing pods
// (gpu_milli < 1000, a few popular specs dominating), the rest 1 GPU with a few 2/4/8-GPU pods,
// a small share with a gpu_spec constraint; total GPU request near the cluster's capacity.
//
//   SampleOptions opt{.nodes = 120, .pods = 800, .seed = 1};
//   Sample s = GenerateSample(opt);
//   WriteOpenbNodes(s.nodes); WriteOpenbPods(s.pods);

#include <cstdint>
#include <vector>

#include "simulator/trace/openb.h"

namespace gpusched::simulator::trace {

struct SampleOptions {
  int nodes = 120;
  int pods = 800;
  uint64_t seed = 1;
};

struct Sample {
  std::vector<OpenbNode> nodes;
  std::vector<OpenbPod> pods;
};

Sample GenerateSample(const SampleOptions& options);

}  // namespace gpusched::simulator::trace

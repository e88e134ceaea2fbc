#pragma once

// `gpusched topo`: inspect GPU topologies and pick device sets.
//
//   gpusched topo list
//   gpusched topo show --preset dgx1-v100 | --topology nvidia-smi-topo.txt [--json]
//   gpusched topo best --preset dgx1-v100 --count 4 [--free 0,1,5,6,7] [--numa N] [--json]
//
// `show` prints the GPU-to-GPU bandwidth matrix (GB/s) with NVLink counts and NUMA nodes (with
// --json: the topology JSON of topology/topology_json.h); `best` prints the chosen GPUs and
// their quality; with --json:
//   {"topology":"dgx1-v100","count":4,"gpus":[0,1,2,3],"min_bandwidth_gbps":25,
//    "ring_bandwidth_gbps":25,"sockets":1,"warnings":[]}
// --topology reads the text of `nvidia-smi topo -m`, or the node agent's JSON (topology_json.h),
// at most --max-input-mb. What is odd about a topology (topology/validate.h) is printed as
// warnings in the table and in --json. Exit codes: cli/command.h.

#include <ostream>
#include <string>
#include <vector>

#include "cli/command.h"

namespace gpusched::cli {

Runner AddTopoCommand(CLI::App& app);
int RunTopo(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace gpusched::cli

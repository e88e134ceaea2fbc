#pragma once

// For the `gpusched sim` tests: runs the command in-process and keeps its exit code and output.

#include <sstream>
#include <string>
#include <vector>

#include "cli/sim.h"

namespace gpusched::cli {

struct SimRun {
  int rc;
  std::string out, err;
};

inline SimRun Sim(std::vector<std::string> args) {
  std::ostringstream out, err;
  const int rc = RunSim(args, out, err);
  return {rc, out.str(), err.str()};
}

}  // namespace gpusched::cli

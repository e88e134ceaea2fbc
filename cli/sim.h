#pragma once

// `gpusched sim`: replays a trace through the scheduling policies and reports.
//
//   gpusched sim [--cluster NODES.csv --trace PODS.csv] [--policy fgd,bestfit|all|PROFILE.yaml]
//                [--mode inflation|replay] [--seeds 42-51] [--threads N] [--inflation 1.3]
//                [--out DIR] [--json]
//
// Without --cluster/--trace it runs on the built-in openb-like sample (the same data as
// simulator/testdata/sample_*.csv). Prints progress to stderr, a summary table (or, with --json,
// the JSON summary) to stdout, and writes the report files to --out (default out/sim).

#include <ostream>
#include <string>
#include <vector>

namespace gpusched::cli {

int RunSim(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace gpusched::cli

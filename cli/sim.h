#pragma once

// `gpusched sim`: replays a trace through the scheduling policies and reports.
//
//   gpusched sim [--cluster NODES.csv --trace PODS.csv] [--policy fgd,bestfit|all|PROFILE.yaml]
//                [--mode inflation|replay] [--seeds 42-51] [--threads N] [--inflation 1.3]
//                [--out DIR] [--json] ...            (gpusched sim --help lists every flag)
//
// Without --cluster/--trace it runs on the built-in openb-like sample (the same data as
// simulator/testdata/sample_*.csv). Every flag is checked and --out is created and tested for
// writing before any input is read; then the inputs are read (each at most --max-input-mb),
// warnings about them printed, the runs made (progress on stderr), the summary table (or, with
// --json, the JSON summary, warnings included) printed to stdout, and the report files written
// to --out (default out/sim). Exit codes: cli/command.h.
//
// A sweep across machines (simulator/shard.h):
//   gpusched sim ... --shard I/N --out DIR     the runs at positions p % N == I of the policy x
//                                              seed sweep; writes DIR/shard-I-of-N.json only
//   gpusched sim merge DIR_OR_FILES... --out REPORT_DIR [--json] [--max-input-mb N]
//                                              checks the N shards are one complete sweep, then
//                                              prints and writes what the unsharded run would
// A failed merge (a malformed, truncated, missing, repeated or foreign shard) names the file and
// the field, exits 1 and writes nothing.

#include <ostream>
#include <string>
#include <vector>

#include "cli/command.h"

namespace gpusched::cli {

// At most this many seeds in --seeds (e.g. 1-10000).
inline constexpr int kMaxSeeds = 10'000;

// Registers sim's flags on `app`; the returned runner runs with the parsed values.
Runner AddSimCommand(CLI::App& app);

// Parses `args` (the arguments after "sim") and runs.
int RunSim(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace gpusched::cli

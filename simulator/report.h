#pragma once

// Writing what a simulation found, for people and for programs.
//
//   RETURN_IF_ERROR(WriteReport("out/", runs, "openb default, inflation 130%"));
//   PrintSummaryTable(std::cout, Summarize(runs));
//
// Files written into `dir` (created if missing):
//   summary.json   per policy: mean and sd of unallocated GPU % at 100 % and 130 % arrived,
//                  failed pods, runs; plus the run list (policy, seed, digest, KPIs)
//   runs.csv       one row per run: policy,seed,mode,pods_arrived,pods_scheduled,pods_failed,
//                  unalloc_100,unalloc_130,empty_frag_pct,digest,wall_seconds
//   curves.csv     policy,seed,arrived_pct,unallocated_pct,frag_amount_pct,frag_ratio_pct,failed
//   report.html    self-contained page: the summary table, an SVG chart of unallocated GPU % vs
//                  arrived workload (mean over seeds per policy, one coloured line each, the
//                  ideal line 100 - arrived dashed), an SVG chart of fragmentation amount %,
//                  and a failed-pods chart
// Errors name the file that could not be written.

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "simulator/results.h"

namespace gpusched::simulator {

// `warnings` (simulator/workload_check.h) go into summary.json and the report.
absl::Status WriteReport(const std::string& dir, const std::vector<RunResult>& runs,
                         const std::string& title, const std::vector<std::string>& warnings = {});

// A fixed-width table: policy, runs, unallocated % at 100 (mean ± sd), at 130, failed pods,
// seconds per run.
void PrintSummaryTable(std::ostream& out, const std::vector<PolicySummary>& summaries);

// The --json output: {"title":..., "policies":[{"policy":"fgd","runs":10,
// "unallocated_at_100":{"mean":4.8,"sd":0.1},"unallocated_at_130":{...},"failed_pods":...}],
// "warnings":["3 of 8152 pods fit no node ..."]}
std::string SummaryJson(const std::vector<PolicySummary>& summaries, const std::string& title,
                        const std::vector<std::string>& warnings = {});

}  // namespace gpusched::simulator

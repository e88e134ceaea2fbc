#pragma once

// Writing what a job-trace simulation found (simulator/job_engine.h), for people and programs.
//
//   PrintJobTable(std::cout, results);
//   RETURN_IF_ERROR(WriteJobReport("out/jobs", results, "Philly seed=0, 64 x 8 GPUs"));
//
// Files written into `dir` (created if missing):
//   summary.json  {"title":..., "runs":[{"run":"gang/fifo","mode":..,"order":..,"jobs":..,
//                 "finished":.., "avg_jct_hours":.., ..., "deadlocked":false}]}
//   runs.csv      the same figures, one row per run
//   report.html   self-contained page: the comparison table (best value per column in bold,
//                 partial gangs and deadlocks in red), one sentence on what to look at, an SVG
//                 chart of the % of GPUs running jobs over the busy window, and the distribution
//                 of job completion times, one line per run
// Errors name the file that could not be written.

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "simulator/job_engine.h"

namespace gpusched::simulator {

void PrintJobTable(std::ostream& out, const std::vector<JobSimResult>& results);
// One sentence on where gang and per-pod scheduling differ in `results` (the best gang run
// against the first naive one), for the table's reader and the report; "" without both kinds.
std::string JobTakeaway(const std::vector<JobSimResult>& results);
// {"title": ..., "runs": [...], "warnings": ["..."]}
std::string JobResultsJson(const std::vector<JobSimResult>& results, const std::string& title,
                           const std::vector<std::string>& warnings = {});
absl::Status WriteJobReport(const std::string& dir, const std::vector<JobSimResult>& results,
                            const std::string& title,
                            const std::vector<std::string>& warnings = {});

}  // namespace gpusched::simulator

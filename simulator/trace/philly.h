#pragma once

// Readers for the Philly-derived job traces of Gavel (../shared/data/philly-gavel, from
// github.com/stanford-futuredata/gavel, scheduler/traces/msr): gangs of GPUs with arrival times
// and durations, for replaying a batch workload rather than the pod stream of openb.h.
//
//   ASSIGN_OR_RETURN(ThroughputTable v100,
//                    ThroughputTable::Read("simulation_throughputs.json", "v100"));
//   ASSIGN_OR_RETURN(std::vector<JobRecord> jobs,
//                    ReadPhillyTrace("traces/msr/seed=0", v100));  // a file or a directory
//
// Trace files: one job a line, 7 TAB-separated columns, no header:
//   job_type  command  num_steps_arg  needs_data_dir  total_steps  arrival_time  scale_factor
// e.g. "LM (batch size 5)\tcd %s/... && python main.py ...\t--steps\t1\t374522\t2762344.000000\t8".
// job_type is non-empty; command and num_steps_arg are kept by Gavel to launch real jobs and are
// ignored here (any text); needs_data_dir is 0 or 1; total_steps is an integer in
// 1..kMaxTotalSteps; arrival_time is seconds since the trace start, a finite decimal number in
// 0..kMaxTraceSeconds (quantized to microseconds); scale_factor is the gang size in GPUs,
// an integer in 1..kMaxScale.
//
// Every malformed row is an InvalidArgument error naming the file, the line (1-based) and the
// column, e.g.
//   "0e4a51.trace:17: column total_steps: \"12x\" is not an integer"
//   "0e4a51.trace:3: expected 7 tab-separated fields, got 6"
// A job type that the throughput table does not know, or whose throughput there is 0 (the table
// has 0 for ResNet-50 (batch size 128) on 2, 4 and 8 K80s, so seed=0 cannot be read with "k80"),
// is an error in column job_type naming the line. Blank lines, a trailing newline and CRLF line
// ends and a UTF-8 byte order mark are fine. Any input gives a value or an error, never a crash.
//
// Hostile input. Files are read with common/file.h ReadInputFile: a directory given where a file
// is expected is read as a trace directory, a device, pipe or socket is refused by name, and more
// than `max_bytes` (for a directory: all its *.trace files together) is an error saying "raise it
// with --max-input-mb". At most kMaxTraceJobs jobs (in all) and kMaxTraceFiles files in a
// directory. A line is split into at most 8 fields however many TABs it has. Bytes of the input
// that are not printable ASCII are escaped (\xNN) in messages. In simulation_throughputs.json a
// key repeated in one object is an error naming it, nesting is capped at 16 levels.
//
// Cost. ParsePhillyTrace is one pass: O(n) time for n bytes, memory the records (~130 bytes a
// job plus the job type when longer than 15 bytes) and nothing proportional to line length or
// blank lines. ReadPhillyTrace on a directory adds a stable sort by arrival, O(J log J) for J
// jobs. A 1.2 M-row trace (~190 MB) reads in about a second (bench/trace_benchmark.cc).
//
// Duration. The trace has no durations, only work: duration = total_steps / steps-per-second of
// the job's type at its scale on one GPU type, from Gavel's simulation_throughputs.json. That
// table lists scales 1, 2, 4 and 8 only (some types only 1), while the traces ask for gangs up to
// 64 (and odd sizes 7, 12, 20, 24). For a scale that is not listed we take the largest listed
// scale k below it and assume linear weak scaling, throughput(s) = throughput(k) * s / k: the
// gang does s/k times the work per step-time of the k-GPU run. This is optimistic for big gangs
// (no communication cost), but it is the simplest assumption that keeps the gang's GPU-time equal
// to that of the measured scale; with v100 it applies to 1,548 of the 15,264 jobs of seed=0.

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/file.h"

namespace gpusched::simulator::trace {

inline constexpr int kMaxScale = 1024;                            // gang size in GPUs
inline constexpr int64_t kMaxTotalSteps = 1'000'000'000'000'000;  // 1e15; the traces: < 1e9
inline constexpr double kMaxTraceSeconds = 1e10;  // ~317 years, for arrivals and durations
inline constexpr int64_t kMaxTraceJobs = 10'000'000;  // rows of a trace (a file or a directory)
inline constexpr int64_t kMaxTraceFiles = 10'000;     // *.trace files in a trace directory

struct JobRecord {
  std::string id;        // "<file stem>-<line>", e.g. "0e4a51-17"
  std::string job_type;  // e.g. "ResNet-50 (batch size 64)"
  int64_t total_steps = 0;
  absl::Duration arrival;   // since the trace start
  absl::Duration duration;  // running alone on its gang, total_steps / throughput
  int32_t gpus = 0;         // the gang size (scale_factor)
};

// Steps per second of each (job type, scale) for one GPU type: the "null" (running alone)
// entries of Gavel's simulation_throughputs.json.
class ThroughputTable {
 public:
  // `json_text` is the whole simulation_throughputs.json; `gpu_type` a top-level key such as
  // "v100" (an unknown one is an error listing those available). Under it, every key must be a
  // Python tuple string "('<job type>', <scale>)" with scale in 1..kMaxScale, and its object must
  // have a "null" entry holding a finite number >= 0; other entries (co-location pairs) are
  // ignored. Errors are InvalidArgument naming the key.
  static absl::StatusOr<ThroughputTable> Parse(std::string_view json_text,
                                               std::string_view gpu_type);
  // Reads the file at `path` with ReadInputFile(path, max_bytes) (NotFound naming it when
  // missing; FailedPrecondition for a special file or one over `max_bytes`); errors name the path.
  static absl::StatusOr<ThroughputTable> Read(const std::string& path, std::string_view gpu_type,
                                              size_t max_bytes = kDefaultMaxInputBytes);

  // The table for the jobs of GenerateJobSample / FormatPhillyTrace: job type "Synthetic" runs at
  // 1 step/s at every scale 1..kMaxScale, so that total_steps is the duration in seconds.
  static ThroughputTable Synthetic();

  // Steps per second of `job_type` on a gang of `scale` GPUs: the listed value, or the linear
  // fallback above. NotFound for an unknown job type, InvalidArgument for a scale outside
  // 1..kMaxScale, FailedPrecondition when the throughput is 0 (the job does not run on this GPU
  // type).
  absl::StatusOr<double> StepsPerSecond(const std::string& job_type, int scale) const;

  const std::string& gpu_type() const { return gpu_type_; }
  size_t job_types() const { return steps_per_second_.size(); }

 private:
  static absl::StatusOr<ThroughputTable> ParseFrom(std::string_view json_text,
                                                   std::string_view source,
                                                   std::string_view gpu_type);

  std::string gpu_type_;
  // job type -> scale -> steps/s.
  std::map<std::string, std::map<int, double>, std::less<>> steps_per_second_;
};

// Parses one trace file's text; `file_label` names it in errors and its stem (the name without
// directories and extension) prefixes the job ids.
absl::StatusOr<std::vector<JobRecord>> ParsePhillyTrace(std::string_view text,
                                                        std::string_view file_label,
                                                        const ThroughputTable& table);

// Reads one trace file, or, for a directory, every *.trace file in it (sorted by name; not
// recursive), merged and stably sorted by arrival (ties keep file, then line order). NotFound if
// the path does not exist or a directory holds no *.trace file; `max_bytes` bounds the bytes read
// (all files of a directory together).
absl::StatusOr<std::vector<JobRecord>> ReadPhillyTrace(const std::string& path_or_dir,
                                                       const ThroughputTable& table,
                                                       size_t max_bytes = kDefaultMaxInputBytes);

// Writes `jobs` in the 7-column trace format, one line each in the given order: job_type (any
// TAB, CR or LF in it replaced by a space), command "-", num_steps_arg "-step", needs_data_dir 1,
// total_steps, arrival as seconds with 6 decimals, gpus. The duration is not written: reading the
// text back recomputes it from the table (with ThroughputTable::Synthetic(), total_steps seconds).
std::string FormatPhillyTrace(const std::vector<JobRecord>& jobs);

struct JobSampleOptions {
  int jobs = 200;
  uint64_t seed = 1;
  int max_gpus = 64;  // larger gangs are cut to this size (values < 1 mean 1)
  double mean_interarrival_s = 60;
  double max_duration_s = 30 * 86400;  // durations are clamped to [60 s, this]
};

// The loaded sample (`gpusched jobs --sample loaded`): 200 jobs arriving about once a minute,
// gangs up to 32 GPUs, none longer than 8 hours. On 16 nodes x 8 GPUs the offered work is about
// three times what the GPUs can do while jobs arrive, so jobs queue, gangs compete for freed GPUs
// and the makespan is set by the backlog rather than by one month-long job: where gang and
// per-pod scheduling differ (JCT, utilization, GPUs held idle, deadlocks) is plain.
inline JobSampleOptions LoadedJobSampleOptions() {
  JobSampleOptions o;
  o.jobs = 200;
  o.seed = 7;
  o.max_gpus = 32;
  o.mean_interarrival_s = 60;
  o.max_duration_s = 8 * 3600;
  return o;
}

// Deterministic synthetic jobs shaped like the Philly traces, for tests and demos without the
// shared data. Job type "Synthetic" (see ThroughputTable::Synthetic()), total_steps = duration in
// whole seconds. Ids are "philly_sample-<n>", n = 1.. in arrival order, i.e. the ids that
// ReadPhillyTrace gives the output of FormatPhillyTrace saved as philly_sample.trace
// (simulator/testdata/philly_sample.trace is exactly GenerateJobSample({})).
//   - Gang sizes follow the job counts of seed=0 (all 15 files): 1: 10480, 2: 463, 4: 2044,
//     7: 2, 8: 1916, 12: 6, 16: 255, 20: 1, 24: 5, 32: 91, 64: 1, capped at max_gpus.
//   - Arrivals: the first at 0 s, then exponential gaps of mean mean_interarrival_s, rounded to
//     whole seconds (the traces' arrivals are whole seconds too).
//   - Durations: lognormal fitted to seed=0 with v100 throughputs, median 8,802 s, sigma 2.36
//     (of ln seconds), clamped to [60 s, 30 days] and rounded to whole seconds; see philly.cc.
std::vector<JobRecord> GenerateJobSample(const JobSampleOptions& options);

}  // namespace gpusched::simulator::trace

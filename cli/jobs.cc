#include "cli/jobs.h"

#include <algorithm>
#include <filesystem>
#include <memory>
#include <set>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "simulator/job_engine.h"
#include "simulator/job_report.h"
#include "simulator/trace/philly.h"

namespace gpusched::cli {
namespace {

constexpr char kCommand[] = "jobs";
constexpr char kDefaultRuns[] =
    "gang/fifo,gang/greedy,gang/smallest-first,gang/backfill,naive/greedy";

struct JobsFlags {
  std::string trace, throughputs, gpu = "v100", runs = kDefaultRuns, out_dir = "out/jobs";
  std::string path = "framework";
  std::string sample = "default";
  simulator::JobSimOptions base;
  int max_jobs = 0;
  int max_input_mb = kDefaultMaxInputMb;
  bool json = false;
};

// --runs: mode/order pairs, each valid, none twice.
absl::StatusOr<std::vector<simulator::JobSimOptions>> ParseRuns(const JobsFlags& f) {
  std::vector<simulator::JobSimOptions> runs;
  std::set<std::string> seen;
  for (const std::string& item : std::vector<std::string>(absl::StrSplit(f.runs, ','))) {
    std::vector<std::string> parts = absl::StrSplit(item, absl::MaxSplits('/', 1));
    simulator::JobSimOptions o = f.base;
    o.path = f.path;
    o.mode = parts[0];
    o.order = parts.size() == 2 ? parts[1] : "fifo";
    if (absl::Status s = simulator::ValidateJobSimOptions(o); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--runs \"", item, "\": ", s.message()));
    }
    if (!seen.insert(absl::StrCat(o.mode, "/", o.order)).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("--runs: ", o.mode, "/", o.order, " is given twice"));
    }
    runs.push_back(o);
  }
  return runs;
}

struct LoadedJobs {
  std::vector<simulator::trace::JobRecord> jobs;
  std::string title;
};

absl::StatusOr<LoadedJobs> LoadJobs(const JobsFlags& f) {
  LoadedJobs l;
  if (f.trace.empty()) {
    if (f.sample == "loaded") {
      l.jobs = simulator::trace::GenerateJobSample(simulator::trace::LoadedJobSampleOptions());
      l.title = "built-in loaded sample: 200 jobs, about one a minute, up to 8 h and 32 GPUs each";
    } else {
      l.jobs = simulator::trace::GenerateJobSample({});
      l.title = "built-in 200-job sample";
    }
    return l;
  }
  const size_t limit = static_cast<size_t>(f.max_input_mb) << 20;
  simulator::trace::ThroughputTable table = simulator::trace::ThroughputTable::Synthetic();
  if (!f.throughputs.empty()) {
    ASSIGN_OR_RETURN(table, simulator::trace::ThroughputTable::Read(f.throughputs, f.gpu, limit));
  }
  absl::StatusOr<std::vector<simulator::trace::JobRecord>> read =
      simulator::trace::ReadPhillyTrace(f.trace, table, limit);
  if (!read.ok()) {
    if (f.throughputs.empty()) {
      return absl::Status(read.status().code(),
                          absl::StrCat(read.status().message(),
                                       "\n(real Philly traces need --throughputs "
                                       "simulation_throughputs.json)"));
    }
    return read.status();
  }
  l.jobs = *std::move(read);
  l.title = f.trace;
  return l;
}

// Jobs that no run can ever start: larger than a gang can be (simulator::MaxGangGpus).
std::vector<std::string> JobWarnings(const std::vector<simulator::trace::JobRecord>& jobs,
                                     const simulator::JobSimOptions& o) {
  const int64_t limit = simulator::MaxGangGpus(o);
  int64_t never = 0, largest = 0;
  for (const auto& j : jobs) {
    if (j.gpus > limit) {
      ++never;
      largest = std::max<int64_t>(largest, j.gpus);
    }
  }
  if (never == 0) return {};
  const std::string scope = o.gang_topology == "rack"            ? "one rack"
                            : o.gang_topology == "nvlink-domain" ? "one NVLink domain"
                                                                 : "the cluster";
  return {absl::StrCat(never, " of ", jobs.size(), " jobs need more GPUs than ", scope, " has (",
                       limit, "; the largest asks for ", largest,
                       "): they never run and are left out of the figures")};
}

// Runs are independent: one thread each, as many at a time as there are cores.
absl::StatusOr<std::vector<simulator::JobSimResult>> RunAll(
    const std::vector<simulator::trace::JobRecord>& jobs,
    const std::vector<simulator::JobSimOptions>& runs) {
  std::vector<absl::StatusOr<simulator::JobSimResult>> results(runs.size(),
                                                               absl::UnknownError("not run"));
  const size_t threads = std::max(1u, std::thread::hardware_concurrency());
  for (size_t first = 0; first < runs.size(); first += threads) {
    std::vector<std::thread> pool;
    for (size_t i = first; i < std::min(runs.size(), first + threads); ++i) {
      pool.emplace_back([&, i] { results[i] = simulator::RunJobSim(jobs, runs[i]); });
    }
    for (std::thread& t : pool) t.join();
  }
  std::vector<simulator::JobSimResult> done;
  for (size_t i = 0; i < results.size(); ++i) {
    if (!results[i].ok()) {
      return absl::Status(results[i].status().code(),
                          absl::StrCat("run ", runs[i].mode, "/", runs[i].order, ": ",
                                       results[i].status().message()));
    }
    done.push_back(*std::move(results[i]));
  }
  return done;
}

int Run(const JobsFlags& f, std::ostream& out, std::ostream& err) {
  absl::StatusOr<std::vector<simulator::JobSimOptions>> runs = ParseRuns(f);
  if (!runs.ok()) return UsageError(err, kCommand, MessageOf(runs.status()));
  if (absl::Status s = PrepareOutputDir(f.out_dir); !s.ok()) return Fail(err, kCommand, s);

  absl::StatusOr<LoadedJobs> loaded = LoadJobs(f);
  if (!loaded.ok()) return Fail(err, kCommand, loaded.status());
  std::vector<simulator::trace::JobRecord>& jobs = loaded->jobs;
  if (f.max_jobs > 0 && static_cast<int>(jobs.size()) > f.max_jobs) jobs.resize(f.max_jobs);
  const simulator::JobSimOptions& base = runs->front();
  std::string title = loaded->title;
  absl::StrAppend(&title, ": ", jobs.size(), " jobs on ", base.nodes, " nodes x ",
                  base.gpus_per_node, " GPUs, ", base.gpus_per_pod, " GPU(s) per pod",
                  base.gang_topology.empty() ? "" : ", gang topology " + base.gang_topology);
  const std::vector<std::string> warnings = JobWarnings(jobs, base);

  absl::StatusOr<std::vector<simulator::JobSimResult>> done = RunAll(jobs, *runs);
  if (!done.ok()) return Fail(err, kCommand, done.status());
  if (f.json) {
    out << simulator::JobResultsJson(*done, title, warnings);
  } else {
    out << title << "\n";
    PrintWarnings(out, warnings);
    out << "\n";
    simulator::PrintJobTable(out, *done);
    if (const std::string look = simulator::JobTakeaway(*done); !look.empty()) {
      out << "\nWhat to look at: " << look << "\n";
    }
  }
  if (absl::Status s = simulator::WriteJobReport(f.out_dir, *done, title, warnings); !s.ok()) {
    return Fail(err, kCommand, s);
  }
  err << "jobs: report written to "
      << (std::filesystem::path(f.out_dir) / "report.html").string() << "\n";
  return kExitOk;
}

}  // namespace

Runner AddJobsCommand(CLI::App& app) {
  auto f = std::make_shared<JobsFlags>();
  app.description(
      "Replay a job trace with gangs (Philly-derived) on nodes of 8 GPUs, comparing gang-aware "
      "against per-pod scheduling and queue orders. Without --trace: a built-in 200-job sample.");
  app.footer(
      "Public traces: ../shared/data/philly-gavel/traces/msr/seed=0 (a directory of .trace "
      "files) with --throughputs ../shared/data/philly-gavel/simulation_throughputs.json.");
  CLI::Option* trace =
      app.add_option("--trace", f->trace, "a .trace file or a directory of them")->check(RealValue());
  app.add_option("--sample", f->sample,
                 "without --trace: default (200 jobs, 11 % utilization on 16 nodes, one 720 h job) "
                 "or loaded (200 jobs on a busy cluster, where gang and per-pod scheduling differ)")
      ->check(CLI::IsMember({"default", "loaded"}))
      ->excludes(trace)
      ->capture_default_str();
  CLI::Option* throughputs =
      app.add_option("--throughputs", f->throughputs, "Gavel's simulation_throughputs.json")
          ->check(RealValue())
          ->needs(trace);
  app.add_option("--gpu", f->gpu, "the GPU type in the throughputs file")
      ->check(RealValue())
      ->needs(throughputs)
      ->capture_default_str();
  app.add_option("--runs", f->runs, "mode/order pairs: gang|naive / fifo|greedy|smallest-first|backfill")
      ->check(RealValue())
      ->capture_default_str();
  app.add_option("--nodes", f->base.nodes, "nodes of 8 GPUs")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_option("--gpus-per-pod", f->base.gpus_per_pod, "GPUs per member pod (divides 8)")
      ->check(CLI::IsMember({1, 2, 4, 8}))
      ->capture_default_str();
  app.add_option("--nodes-per-rack", f->base.nodes_per_rack, "nodes per rack")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  CLI::Option* gang_topology =
      app.add_option("--gang-topology", f->base.gang_topology, "keep a gang within: any, rack or nvlink-domain")
          ->check(CLI::IsMember({"any", "rack", "nvlink-domain"}));
  app.add_option("--nvlink-domain-nodes", f->base.nodes_per_nvlink_domain,
                 "nodes per NVLink domain (with --gang-topology nvlink-domain)")
      ->check(CLI::Range(1, 100000))
      ->needs(gang_topology);
  app.add_option("--max-jobs", f->max_jobs, "the first N jobs only (0: all)")
      ->check(CLI::Range(0, 100'000'000));
  app.add_option("--out", f->out_dir, "report directory (created; checked before any work)")
      ->check(RealValue())
      ->capture_default_str();
  app.add_flag("--json", f->json, "print JSON instead of the table");
  app.add_option("--path", f->path,
                 "framework, or extender: every pod through filter/prioritize/bind as "
                 "kube-scheduler calls them; gangs by plans")
      ->check(CLI::IsMember({"framework", "extender"}))
      ->capture_default_str();
  app.add_option("--max-input-mb", f->max_input_mb, "size limit of each input file, in MiB")
      ->check(CLI::Range(1, kMaxMaxInputMb))
      ->capture_default_str();
  return [f](std::ostream& out, std::ostream& err) { return Run(*f, out, err); };
}

int RunJobs(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  CLI::App app("", "gpusched jobs");
  const Runner run = AddJobsCommand(app);
  return ParseThenRun(app, args, out, err, run);
}

}  // namespace gpusched::cli

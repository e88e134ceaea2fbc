#include "cli/jobs.h"

#include <filesystem>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cli/flags.h"
#include "simulator/job_engine.h"
#include "simulator/job_report.h"
#include "simulator/trace/philly.h"

namespace gpusched::cli {
namespace {

constexpr char kUsage[] =
    "usage: gpusched jobs [--trace FILE.trace|DIR] [--throughputs FILE.json] [--gpu v100]\n"
    "                     [--nodes 64] [--gpus-per-pod 1] [--nodes-per-rack 8]\n"
    "                     [--runs gang/fifo,gang/greedy,gang/smallest-first,gang/backfill,\n"
    "                             naive/greedy,naive/fifo]\n"
    "                     [--gang-topology any|rack|nvlink-domain] [--nvlink-domain-nodes N]\n"
    "                     [--max-jobs N] [--out DIR] [--json]\n"
    "                     [--path framework|extender]  (extender: every pod through filter,\n"
    "                     prioritize and bind as kube-scheduler calls them; gangs by plans)\n"
    "  Replays a job trace with gangs on nodes of 8 GPUs. Without --trace: a built-in 200-job\n"
    "  sample. Public traces: ../shared/data/philly-gavel/traces/msr/seed=0 (a directory of\n"
    "  .trace files) with --throughputs ../shared/data/philly-gavel/simulation_throughputs.json.\n";

constexpr char kDefaultRuns[] =
    "gang/fifo,gang/greedy,gang/smallest-first,gang/backfill,naive/greedy";

bool ParseInt(const std::string& text, int lo, int hi, int& out) {
  return absl::SimpleAtoi(text, &out) && out >= lo && out <= hi;
}

}  // namespace

int RunJobs(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  std::string trace_path, throughputs, gpu = "v100", runs_text = kDefaultRuns;
  std::string out_dir = "out/jobs", nodes_text, per_pod_text, per_rack_text, max_jobs_text;
  std::string nvl_text, topology, path = "framework";
  bool json = false;
  FlagReader flags(args);
  while (flags.Next()) {
    if (flags.Value("--trace", trace_path) || flags.Value("--throughputs", throughputs) ||
        flags.Value("--gpu", gpu) || flags.Value("--runs", runs_text) ||
        flags.Value("--nodes", nodes_text) || flags.Value("--gpus-per-pod", per_pod_text) ||
        flags.Value("--nodes-per-rack", per_rack_text) ||
        flags.Value("--nvlink-domain-nodes", nvl_text) ||
        flags.Value("--gang-topology", topology) || flags.Value("--max-jobs", max_jobs_text) ||
        flags.Value("--out", out_dir) || flags.Value("--path", path) ||
        flags.Switch("--json", json)) {
      continue;
    }
    if (flags.current() == "--help" || flags.current() == "-h") {
      out << kUsage;
      return 0;
    }
    return flags.Unknown(err, "jobs", kUsage);
  }
  simulator::JobSimOptions base;
  base.gang_topology = topology;
  base.path = path;
  int max_jobs = 0;
  struct IntFlag {
    const char* name;
    const std::string& text;
    int lo, hi;
    int& out;
  };
  for (const IntFlag& f : {IntFlag{"--nodes", nodes_text, 1, 100000, base.nodes},
                           IntFlag{"--gpus-per-pod", per_pod_text, 1, 8, base.gpus_per_pod},
                           IntFlag{"--nodes-per-rack", per_rack_text, 1, 100000, base.nodes_per_rack},
                           IntFlag{"--nvlink-domain-nodes", nvl_text, 0, 100000,
                                   base.nodes_per_nvlink_domain},
                           IntFlag{"--max-jobs", max_jobs_text, 0, 100000000, max_jobs}}) {
    if (!f.text.empty() && !ParseInt(f.text, f.lo, f.hi, f.out)) {
      err << "jobs: " << f.name << ": expected " << f.lo << ".." << f.hi << ", got \"" << f.text
          << "\"\n";
      return 2;
    }
  }

  // The runs to compare: mode/order pairs.
  std::vector<simulator::JobSimOptions> runs;
  for (const std::string& item : std::vector<std::string>(absl::StrSplit(runs_text, ','))) {
    std::vector<std::string> parts = absl::StrSplit(item, absl::MaxSplits('/', 1));
    simulator::JobSimOptions o = base;
    o.mode = parts[0];
    o.order = parts.size() == 2 ? parts[1] : "fifo";
    if (absl::Status s = simulator::ValidateJobSimOptions(o); !s.ok()) {
      err << "jobs: --runs \"" << item << "\": " << s.message() << "\n";
      return 2;
    }
    runs.push_back(o);
  }

  std::vector<simulator::trace::JobRecord> jobs;
  std::string title;
  if (trace_path.empty()) {
    jobs = simulator::trace::GenerateJobSample({});
    title = "built-in 200-job sample";
  } else {
    absl::StatusOr<simulator::trace::ThroughputTable> table =
        throughputs.empty()
            ? absl::StatusOr<simulator::trace::ThroughputTable>(
                  simulator::trace::ThroughputTable::Synthetic())
            : simulator::trace::ThroughputTable::Read(throughputs, gpu);
    if (!table.ok()) {
      err << "jobs: " << table.status().message() << "\n";
      return 1;
    }
    absl::StatusOr<std::vector<simulator::trace::JobRecord>> read =
        simulator::trace::ReadPhillyTrace(trace_path, *table);
    if (!read.ok()) {
      err << "jobs: " << read.status().message() << "\n";
      if (throughputs.empty()) {
        err << "jobs: (real Philly traces need --throughputs simulation_throughputs.json)\n";
      }
      return 1;
    }
    jobs = *std::move(read);
    title = trace_path;
  }
  if (max_jobs > 0 && static_cast<int>(jobs.size()) > max_jobs) jobs.resize(max_jobs);
  absl::StrAppend(&title, ": ", jobs.size(), " jobs on ", base.nodes, " nodes x ",
                  base.gpus_per_node, " GPUs, ", base.gpus_per_pod, " GPU(s) per pod",
                  base.gang_topology.empty() ? "" : ", gang topology " + base.gang_topology);

  // Runs are independent: one thread each, as many at a time as there are cores.
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
      err << "jobs: run " << runs[i].mode << "/" << runs[i].order << ": "
          << results[i].status().message() << "\n";
      return 1;
    }
    done.push_back(*std::move(results[i]));
  }
  if (json) {
    out << simulator::JobResultsJson(done, title);
  } else {
    out << title << "\n\n";
    simulator::PrintJobTable(out, done);
  }
  if (absl::Status s = simulator::WriteJobReport(out_dir, done, title); !s.ok()) {
    err << "jobs: " << s.message() << "\n";
    return 1;
  }
  err << "jobs: report written to " << (std::filesystem::path(out_dir) / "report.html").string()
      << "\n";
  return 0;
}

}  // namespace gpusched::cli

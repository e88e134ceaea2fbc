#include "simulator/job_report.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"
#include "simulator/html.h"

namespace gpusched::simulator {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

std::string F2(double x) { return absl::StrFormat("%.2f", x); }
std::string F1(double x) { return absl::StrFormat("%.1f", x); }

// One column of the comparison: its heading, its text per run, and the value that is best
// (lowest, or highest when `higher_better`), if the column has a best.
struct Column {
  std::string heading;
  std::string (*text)(const JobSimResult&);
  double (*value)(const JobSimResult&) = nullptr;
  bool higher_better = false;
};

const std::vector<Column>& Columns() {
  static const std::vector<Column> columns = {
      {"jobs", [](const JobSimResult& r) { return absl::StrCat(r.jobs); }},
      {"finished", [](const JobSimResult& r) { return absl::StrCat(r.finished); }},
      {"avg JCT h", [](const JobSimResult& r) { return F2(r.avg_jct_hours); },
       [](const JobSimResult& r) { return r.avg_jct_hours; }},
      {"p99 JCT h", [](const JobSimResult& r) { return F2(r.p99_jct_hours); },
       [](const JobSimResult& r) { return r.p99_jct_hours; }},
      {"avg queue h", [](const JobSimResult& r) { return F2(r.avg_queue_hours); },
       [](const JobSimResult& r) { return r.avg_queue_hours; }},
      {"p99 queue h", [](const JobSimResult& r) { return F2(r.p99_queue_hours); },
       [](const JobSimResult& r) { return r.p99_queue_hours; }},
      {"gang wait h", [](const JobSimResult& r) { return F2(r.avg_gang_wait_hours); },
       [](const JobSimResult& r) { return r.avg_gang_wait_hours; }},
      {"makespan h", [](const JobSimResult& r) { return F1(r.makespan_hours); },
       [](const JobSimResult& r) { return r.makespan_hours; }},
      {"util %", [](const JobSimResult& r) { return F1(r.utilization_pct); },
       [](const JobSimResult& r) { return r.utilization_pct; }, true},
      {"held idle GPU-h", [](const JobSimResult& r) { return F1(r.held_idle_gpu_hours); },
       [](const JobSimResult& r) { return r.held_idle_gpu_hours; }},
      {"partial gangs", [](const JobSimResult& r) { return absl::StrCat(r.partial_gangs); }},
      {"deadlock", [](const JobSimResult& r) {
         return r.deadlocked ? absl::StrFormat("at %.1f h: %d jobs stuck, %d GPUs held",
                                               r.deadlock_at_hours, r.stuck_jobs,
                                               r.stuck_gpus_held)
                             : std::string("no");
       }},
  };
  return columns;
}

// A run that deadlocked did not finish its work: its times are not comparable, so it never
// counts as best.
std::vector<bool> BestRows(const std::vector<JobSimResult>& results, const Column& c) {
  std::vector<bool> best(results.size(), false);
  if (c.value == nullptr) return best;
  double target = c.higher_better ? -std::numeric_limits<double>::infinity()
                                  : std::numeric_limits<double>::infinity();
  for (const JobSimResult& r : results) {
    if (r.deadlocked) continue;
    target = c.higher_better ? std::max(target, c.value(r)) : std::min(target, c.value(r));
  }
  for (size_t i = 0; i < results.size(); ++i) {
    best[i] = !results[i].deadlocked && c.value(results[i]) == target;
  }
  return best;
}

Json RunJson(const JobSimResult& r) {
  auto round3 = [](double x) { return std::round(x * 1000) / 1000; };
  Json j;
  j["run"] = r.label;
  j["mode"] = r.mode;
  j["order"] = r.order;
  j["jobs"] = r.jobs;
  j["finished"] = r.finished;
  j["never_fits"] = r.never_fits;
  j["unfinished"] = r.unfinished;
  j["avg_jct_hours"] = round3(r.avg_jct_hours);
  j["p99_jct_hours"] = round3(r.p99_jct_hours);
  j["avg_queue_hours"] = round3(r.avg_queue_hours);
  j["p99_queue_hours"] = round3(r.p99_queue_hours);
  j["avg_gang_wait_hours"] = round3(r.avg_gang_wait_hours);
  j["makespan_hours"] = round3(r.makespan_hours);
  j["utilization_pct"] = round3(r.utilization_pct);
  j["held_idle_gpu_hours"] = round3(r.held_idle_gpu_hours);
  j["partial_gangs"] = r.partial_gangs;
  j["deadlocked"] = r.deadlocked;
  if (r.deadlocked) {
    j["deadlock_at_hours"] = round3(r.deadlock_at_hours);
    j["stuck_jobs"] = r.stuck_jobs;
    j["stuck_gpus_held"] = r.stuck_gpus_held;
  }
  j["scheduling_cycles"] = r.scheduling_cycles;
  j["digest"] = absl::StrFormat("%016x", r.digest);
  return j;
}

std::string Csv(const std::vector<JobSimResult>& results) {
  std::string out =
      "run,mode,order,jobs,finished,never_fits,unfinished,avg_jct_hours,p99_jct_hours,"
      "avg_queue_hours,p99_queue_hours,avg_gang_wait_hours,makespan_hours,utilization_pct,"
      "held_idle_gpu_hours,partial_gangs,deadlocked,deadlock_at_hours,stuck_jobs,"
      "stuck_gpus_held,digest\n";
  for (const JobSimResult& r : results) {
    absl::StrAppend(&out, CsvField(r.label), ",", r.mode, ",", r.order, ",", r.jobs, ",",
                    r.finished, ",", r.never_fits, ",", r.unfinished, ",");
    absl::StrAppend(&out, absl::StrFormat("%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,",
                                          r.avg_jct_hours, r.p99_jct_hours, r.avg_queue_hours,
                                          r.p99_queue_hours, r.avg_gang_wait_hours,
                                          r.makespan_hours, r.utilization_pct,
                                          r.held_idle_gpu_hours));
    absl::StrAppend(&out, r.partial_gangs, ",", r.deadlocked ? "true" : "false", ",",
                    absl::StrFormat("%.3f", r.deadlock_at_hours), ",", r.stuck_jobs, ",",
                    r.stuck_gpus_held, ",", absl::StrFormat("%016x", r.digest), "\n");
  }
  return out;
}

// A chart of a percentage against hours (not against arrived workload: no 100 % marker).
Chart PercentChart(std::string id, std::string aria_label, std::string x_label, std::string y_label,
                   std::string legend_value_header) {
  Chart c;
  c.id = std::move(id);
  c.aria_label = std::move(aria_label);
  c.x_label = std::move(x_label);
  c.y_label = std::move(y_label);
  c.percent_y = true;
  c.arrived_marker = false;
  c.x_hi = 0;
  c.legend_value_header = std::move(legend_value_header);
  return c;
}

std::string Html(const std::vector<JobSimResult>& results, const std::string& title) {
  std::string page = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>",
      HtmlEscape(title), "</title>\n<style>", kReportStyle,
      "td.bad{color:#c00;font-weight:700}\nbody{max-width:1280px}\n"
      "table.wide th{white-space:normal;vertical-align:bottom;max-width:6em}\n"
      "table.wide td{padding:5px 8px}\n</style>\n</head>\n<body>\n<h1>Gang scheduling: ",
      HtmlEscape(title), "</h1>\n");
  absl::StrAppend(
      &page,
      "<p class=\"meta\">Each job runs once all its members are bound. <b>gang</b>: the Gang "
      "plugin binds all members or none; <b>naive</b>: each pod binds when it fits "
      "(kube-scheduler without coscheduling). Orders: <b>fifo</b> blocks behind the first job "
      "that does not fit, <b>greedy</b> (kube-scheduler's queue) and <b>smallest-first</b> "
      "skip it, <b>backfill</b> (EASY) lets later jobs run when they do not delay it. Best "
      "value per column in bold; runs that deadlocked are not ranked.</p>\n<h2>Comparison</h2>\n<table class=\"wide\">\n<tr><th "
      "class=\"name\">run</th>");
  const std::vector<Column>& columns = Columns();
  for (const Column& c : columns) absl::StrAppend(&page, "<th>", HtmlEscape(c.heading), "</th>");
  absl::StrAppend(&page, "</tr>\n");
  std::vector<std::vector<bool>> best;
  for (const Column& c : columns) best.push_back(BestRows(results, c));
  for (size_t i = 0; i < results.size(); ++i) {
    const JobSimResult& r = results[i];
    absl::StrAppend(&page, "<tr><td class=\"name\"><span class=\"swatch\" style=\"background:",
                    ColourFor(i), "\"></span>", HtmlEscape(r.label), "</td>");
    for (size_t c = 0; c < columns.size(); ++c) {
      const bool bad = (columns[c].heading == "partial gangs" && r.partial_gangs > 0) ||
                       (columns[c].heading == "deadlock" && r.deadlocked);
      const char* cls = bad ? " class=\"bad\"" : best[c][i] ? " class=\"best\"" : "";
      absl::StrAppend(&page, "<td", cls, ">", HtmlEscape(columns[c].text(r)), "</td>");
    }
    absl::StrAppend(&page, "</tr>\n");
  }
  absl::StrAppend(&page, "</table>\n");
  if (const std::string look = JobTakeaway(results); !look.empty()) {
    absl::StrAppend(&page, "<p class=\"takeaway\"><b>What to look at:</b> ", HtmlEscape(look),
                    "</p>\n");
  }

  // The busy window: up to the last time any run had at least 10 % of its GPUs running jobs, so
  // that a long tail of one small job does not squeeze the part where runs differ.
  constexpr double kBusyPct = 10;
  double busy_end = 0, last = 0;
  for (const JobSimResult& r : results) {
    for (const auto& [x, y] : r.busy_curve) {
      last = std::max(last, x);
      if (y >= kBusyPct) busy_end = std::max(busy_end, x);
    }
  }
  Chart chart = PercentChart("busy", "GPUs running jobs over time", "hours since the first arrival",
                             "GPUs running jobs (%)", "util %");
  const bool clipped = busy_end > 0 && busy_end < 0.9 * last;
  chart.x_hi = clipped ? busy_end * 1.05 : last;
  for (size_t i = 0; i < results.size(); ++i) {
    Series s{results[i].label, ColourFor(i), {}, F1(results[i].utilization_pct)};
    for (const auto& p : results[i].busy_curve) {
      if (p.first <= chart.x_hi) s.points.push_back(p);
    }
    chart.series.push_back(std::move(s));
  }
  if (chart.x_hi <= 0) chart.x_hi = 1;
  absl::StrAppend(&page, "<h2>GPU utilization over time</h2>\n", RenderChart(chart),
                  "<p class=\"note\">A naive run that deadlocks stops at the deadlock: nothing "
                  "runs after it, while its stuck jobs hold GPUs.",
                  clipped ? absl::StrFormat(" Drawn up to %.1f h: after that fewer than 10 %% of "
                                            "the GPUs run jobs in every run (the last job ends at "
                                            "%.1f h).",
                                            chart.x_hi, last)
                          : std::string(),
                  "</p>\n");

  // Job completion times: the share of jobs done within x hours of arriving, per run.
  Chart cdf = PercentChart("jct", "distribution of job completion times",
                           "job completion time (hours from arrival)",
                           "jobs finished within it (%)", "p50 h");
  for (const JobSimResult& r : results) {
    if (!r.jct_hours.empty()) {
      cdf.x_hi = std::max(cdf.x_hi, r.jct_hours[r.jct_hours.size() * 95 / 100]);
    }
  }
  if (cdf.x_hi <= 0) cdf.x_hi = 1;
  for (size_t i = 0; i < results.size(); ++i) {
    const std::vector<double>& v = results[i].jct_hours;
    Series s{results[i].label, ColourFor(i), {{0, 0}},
             v.empty() ? "-" : F1(v[v.size() / 2])};
    // At most 200 steps per run; the share is of all jobs of the run, finished or not.
    const size_t stride = std::max<size_t>(1, v.size() / 200);
    for (size_t k = 0; k < v.size(); k += stride) {
      if (v[k] > cdf.x_hi) break;
      s.points.push_back({v[k], 100.0 * static_cast<double>(k + 1) /
                                    std::max(1, results[i].jobs)});
    }
    cdf.series.push_back(std::move(s));
  }
  absl::StrAppend(&page, "<h2>Job completion times</h2>\n", RenderChart(cdf),
                  "<p class=\"note\">Up to the 95th percentile of the slowest run; a curve "
                  "further left finishes jobs sooner.</p>\n</body>\n</html>\n");
  return page;
}

}  // namespace

std::string JobTakeaway(const std::vector<JobSimResult>& results) {
  const JobSimResult* naive = nullptr;
  const JobSimResult* gang = nullptr;
  for (const JobSimResult& r : results) {
    if (r.mode == "naive" && naive == nullptr) naive = &r;
    if (r.mode == "gang" && !r.deadlocked && (gang == nullptr || r.avg_jct_hours < gang->avg_jct_hours)) {
      gang = &r;
    }
  }
  if (naive == nullptr || gang == nullptr) return "";
  std::string out = absl::StrFormat(
      "per-pod scheduling (%s) held %.1f GPU-hours idle in %d partly placed gangs", naive->label,
      naive->held_idle_gpu_hours, naive->partial_gangs);
  if (naive->deadlocked) {
    absl::StrAppend(&out, absl::StrFormat(" and deadlocked at %.1f h with %d GPUs held by %d stuck "
                                          "jobs",
                                          naive->deadlock_at_hours, naive->stuck_gpus_held,
                                          naive->stuck_jobs));
  } else {
    absl::StrAppend(&out, absl::StrFormat(", finishing jobs in %.1f h on average", naive->avg_jct_hours));
  }
  absl::StrAppend(&out, absl::StrFormat("; %s holds none idle and averages %.1f h per job at %.1f %% "
                                        "utilization.",
                                        gang->label, gang->avg_jct_hours, gang->utilization_pct));
  return out;
}

void PrintJobTable(std::ostream& out, const std::vector<JobSimResult>& results) {
  const std::vector<Column>& columns = Columns();
  std::vector<size_t> width(columns.size() + 1, 0);
  width[0] = 3;
  for (const JobSimResult& r : results) width[0] = std::max(width[0], DisplayWidth(r.label));
  for (size_t c = 0; c < columns.size(); ++c) {
    width[c + 1] = DisplayWidth(columns[c].heading);
    for (const JobSimResult& r : results) {
      width[c + 1] = std::max(width[c + 1], DisplayWidth(columns[c].text(r)));
    }
  }
  out << PadRight("run", width[0]);
  for (size_t c = 0; c < columns.size(); ++c) out << "  " << PadLeft(columns[c].heading, width[c + 1]);
  out << "\n";
  for (const JobSimResult& r : results) {
    out << PadRight(r.label, width[0]);
    for (size_t c = 0; c < columns.size(); ++c) {
      out << "  " << PadLeft(columns[c].text(r), width[c + 1]);
    }
    out << "\n";
  }
}

std::string JobResultsJson(const std::vector<JobSimResult>& results, const std::string& title,
                           const std::vector<std::string>& warnings) {
  Json j;
  j["title"] = title;
  j["runs"] = Json::array();
  for (const JobSimResult& r : results) j["runs"].push_back(RunJson(r));
  j["warnings"] = warnings;
  // Invalid UTF-8 (a trace path is any bytes) is replaced (U+FFFD) instead of throwing.
  return j.dump(2, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace) + "\n";
}

absl::Status WriteJobReport(const std::string& dir, const std::vector<JobSimResult>& results,
                            const std::string& title, const std::vector<std::string>& warnings) {
  const fs::path root(dir);
  if (absl::Status s = MakeReportDir(dir); !s.ok()) return s;
  if (absl::Status s = WriteFile(root / "summary.json", JobResultsJson(results, title, warnings)); !s.ok()) {
    return s;
  }
  if (absl::Status s = WriteFile(root / "runs.csv", Csv(results)); !s.ok()) return s;
  return WriteFile(root / "report.html", Html(results, title));
}

}  // namespace gpusched::simulator

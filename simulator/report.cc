#include "simulator/report.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"
#include "simulator/html.h"
#include "simulator/results.h"

namespace gpusched::simulator {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

// ---------------------------------------------------------------------------------------------
// Small formatting helpers. Every number that reaches a file goes through a fixed-precision
// format, so equal inputs give byte-identical files.

// "%.3f", or "" for a missing (NaN / infinite) value.
std::string Fixed3(double x) {
  if (!std::isfinite(x)) return "";
  if (x == 0) x = 0;  // no "-0.000"
  std::string s = absl::StrFormat("%.3f", x);
  if (s == "-0.000") s = "0.000";
  return s;
}

std::string Fixed3(const std::optional<double>& x) { return x.has_value() ? Fixed3(*x) : ""; }

// A JSON number rounded to 3 decimals; null when missing.
Json Json3(double x) {
  if (!std::isfinite(x)) return Json(nullptr);
  double r = std::round(x * 1000.0) / 1000.0;
  if (r == 0) r = 0;  // drop the sign of -0
  return Json(r);
}

Json Json3(const std::optional<double>& x) { return x.has_value() ? Json3(*x) : Json(nullptr); }

// "4.81 ± 0.12" or "n/a".
std::string MeanSd2(double mean, double sd) {
  if (!std::isfinite(mean)) return "n/a";
  if (!std::isfinite(sd)) return absl::StrFormat("%.2f", mean);
  return absl::StrFormat("%.2f ± %.2f", mean, sd);
}

// ---------------------------------------------------------------------------------------------
// JSON

Json SummaryObject(const std::vector<PolicySummary>& summaries, const std::string& title,
                   const std::vector<std::string>& warnings) {
  Json root = Json::object();
  root["title"] = title;
  Json policies = Json::array();
  for (const PolicySummary& s : summaries) {
    Json p = Json::object();
    p["policy"] = s.policy;
    p["runs"] = s.runs;
    Json u100 = Json::object();
    u100["mean"] = Json3(s.mean_unalloc_100);
    u100["sd"] = Json3(s.sd_unalloc_100);
    p["unallocated_at_100"] = std::move(u100);
    Json u130 = Json::object();
    u130["mean"] = Json3(s.mean_unalloc_130);
    u130["sd"] = Json3(s.sd_unalloc_130);
    p["unallocated_at_130"] = std::move(u130);
    p["failed_pods"] = Json3(s.mean_failed_pods);
    policies.push_back(std::move(p));
  }
  root["policies"] = std::move(policies);
  root["warnings"] = warnings;
  return root;
}

Json RunObject(const RunResult& r) {
  Json j = Json::object();
  j["policy"] = r.policy;
  j["seed"] = r.seed;
  j["mode"] = r.mode;
  j["digest"] = r.decision_log_digest;
  j["nodes"] = r.nodes;
  j["gpu_capacity_milli"] = r.gpu_capacity_milli;
  j["pods_arrived"] = r.pods_arrived;
  j["pods_scheduled"] = r.pods_scheduled;
  j["pods_failed"] = r.pods_failed;
  j["unallocated_at_100"] = Json3(r.unallocated_at_100);
  j["unallocated_at_130"] = Json3(r.unallocated_at_130);
  j["empty_frag_amount_pct"] = Json3(r.empty_frag_amount_pct);
  return j;
}

// Invalid UTF-8 in a name is replaced (U+FFFD) instead of throwing.
std::string Dump(const Json& j) {
  return j.dump(2, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace);
}

// ---------------------------------------------------------------------------------------------
// CSV

std::string RunsCsv(const std::vector<RunResult>& runs) {
  std::string out =
      "policy,seed,mode,pods_arrived,pods_scheduled,pods_failed,unalloc_100,unalloc_130,"
      "empty_frag_pct,digest,wall_seconds\n";
  for (const RunResult& r : runs) {
    absl::StrAppend(&out, CsvField(r.policy), ",", r.seed, ",", CsvField(r.mode), ",",
                    r.pods_arrived, ",", r.pods_scheduled, ",", r.pods_failed, ",",
                    Fixed3(r.unallocated_at_100), ",", Fixed3(r.unallocated_at_130), ",",
                    Fixed3(r.empty_frag_amount_pct), ",", CsvField(r.decision_log_digest), ",",
                    Fixed3(r.wall_seconds), "\n");
  }
  return out;
}

std::string CurvesCsv(const std::vector<RunResult>& runs) {
  std::string out =
      "policy,seed,arrived_pct,unallocated_pct,frag_amount_pct,frag_ratio_pct,failed\n";
  for (const RunResult& r : runs) {
    const std::string policy = CsvField(r.policy);
    for (const CurvePoint& p : r.curve) {
      absl::StrAppend(&out, policy, ",", r.seed, ",", p.arrived_pct, ",",
                      Fixed3(p.unallocated_pct), ",", Fixed3(p.frag_amount_pct), ",",
                      Fixed3(p.frag_ratio_pct), ",", p.failed_pods, "\n");
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Mean curves over seeds, per policy.

struct MeanPoint {
  double unallocated = 0, frag_amount = 0, failed = 0;
};

struct PolicyCurve {
  std::string policy;
  std::string colour;
  std::map<int, MeanPoint> points;  // arrived_pct -> mean over the seeds that reached it
};


std::vector<PolicyCurve> MeanCurves(const std::vector<RunResult>& runs,
                                    const std::vector<PolicySummary>& summaries) {
  std::vector<PolicyCurve> curves;
  std::unordered_map<std::string, size_t> index;
  for (const PolicySummary& s : summaries) {
    index.emplace(s.policy, curves.size());
    curves.push_back(PolicyCurve{s.policy, ColourFor(curves.size()), {}});
  }
  struct Sum {
    double unallocated = 0, frag_amount = 0, failed = 0;
    int n = 0;
  };
  std::vector<std::map<int, Sum>> sums(curves.size());
  for (const RunResult& r : runs) {
    auto it = index.find(r.policy);
    if (it == index.end()) continue;
    for (const CurvePoint& p : r.curve) {
      if (!std::isfinite(p.unallocated_pct) || !std::isfinite(p.frag_amount_pct)) continue;
      Sum& s = sums[it->second][p.arrived_pct];
      s.unallocated += p.unallocated_pct;
      s.frag_amount += p.frag_amount_pct;
      s.failed += static_cast<double>(p.failed_pods);
      ++s.n;
    }
  }
  for (size_t i = 0; i < curves.size(); ++i) {
    for (const auto& [x, s] : sums[i]) {
      curves[i].points[x] = MeanPoint{s.unallocated / s.n, s.frag_amount / s.n, s.failed / s.n};
    }
  }
  return curves;
}

// ---------------------------------------------------------------------------------------------
// HTML page.


std::string ModesOf(const std::vector<RunResult>& runs) {
  std::vector<std::string> modes;
  for (const RunResult& r : runs) {
    if (std::find(modes.begin(), modes.end(), r.mode) == modes.end()) modes.push_back(r.mode);
  }
  std::string out;
  for (const std::string& m : modes) absl::StrAppend(&out, out.empty() ? "" : ", ", m);
  return out;
}

std::string SummaryTableHtml(const std::vector<PolicySummary>& summaries,
                             const std::vector<PolicyCurve>& curves) {
  double best = std::numeric_limits<double>::infinity();
  for (const PolicySummary& s : summaries) {
    if (std::isfinite(s.mean_unalloc_100)) best = std::min(best, s.mean_unalloc_100);
  }
  std::string t =
      "<table>\n<tr><th class=\"name\">policy</th><th>runs</th>"
      "<th>unallocated GPU % at 100 %<br>(mean ± sd)</th>"
      "<th>unallocated GPU % at 130 %<br>(mean ± sd)</th><th>failed pods<br>(mean)</th>"
      "<th>s / run</th></tr>\n";
  for (size_t i = 0; i < summaries.size(); ++i) {
    const PolicySummary& s = summaries[i];
    const bool is_best = std::isfinite(s.mean_unalloc_100) && s.mean_unalloc_100 == best;
    absl::StrAppend(&t, "<tr><td class=\"name\"><span class=\"swatch\" style=\"background:",
                    curves[i].colour, "\"></span>", HtmlEscape(s.policy), "</td><td>", s.runs,
                    "</td><td", is_best ? " class=\"best\"" : "", ">",
                    MeanSd2(s.mean_unalloc_100, s.sd_unalloc_100), "</td><td>",
                    MeanSd2(s.mean_unalloc_130, s.sd_unalloc_130), "</td><td>",
                    absl::StrFormat("%.1f", s.mean_failed_pods), "</td><td>",
                    absl::StrFormat("%.2f", s.mean_wall_seconds), "</td></tr>\n");
  }
  absl::StrAppend(&t, "</table>\n");
  return t;
}

std::string RunsTableHtml(const std::vector<RunResult>& runs) {
  std::string t =
      "<table>\n<tr><th class=\"name\">policy</th><th>seed</th><th class=\"name\">mode</th>"
      "<th>pods arrived</th><th>scheduled</th><th>failed</th><th>unalloc. % at 100</th>"
      "<th>at 130</th><th>s</th><th class=\"name\">decision log digest</th></tr>\n";
  for (const RunResult& r : runs) {
    auto opt = [](const std::optional<double>& v) {
      return v.has_value() && std::isfinite(*v) ? absl::StrFormat("%.3f", *v) : std::string("n/a");
    };
    absl::StrAppend(&t, "<tr><td class=\"name\">", HtmlEscape(r.policy), "</td><td>", r.seed,
                    "</td><td class=\"name\">", HtmlEscape(r.mode), "</td><td>", r.pods_arrived,
                    "</td><td>", r.pods_scheduled, "</td><td>", r.pods_failed, "</td><td>",
                    opt(r.unallocated_at_100), "</td><td>", opt(r.unallocated_at_130),
                    "</td><td>", absl::StrFormat("%.2f", r.wall_seconds),
                    "</td><td class=\"name\"><code>", HtmlEscape(Truncate(r.decision_log_digest, 16)),
                    "</code></td></tr>\n");
  }
  absl::StrAppend(&t, "</table>\n");
  return t;
}

std::vector<Series> SeriesOf(const std::vector<PolicyCurve>& curves,
                             double MeanPoint::*field) {
  std::vector<Series> out;
  for (const PolicyCurve& c : curves) {
    Series s{c.policy, c.colour, {}, ""};
    for (const auto& [x, p] : c.points) s.points.emplace_back(x, p.*field);
    out.push_back(std::move(s));
  }
  return out;
}


// Per policy (its first run), every node as one cell coloured by the share of its GPUs allocated
// at the end of the run, in the model's node order so that a cell is the same node in every map.
std::string HeatMaps(const std::vector<RunResult>& runs) {
  std::vector<const RunResult*> first;
  for (const RunResult& r : runs) {
    if (r.node_gpu_alloc_milli.empty()) continue;
    if (std::none_of(first.begin(), first.end(),
                     [&](const RunResult* f) { return f->policy == r.policy; })) {
      first.push_back(&r);
    }
  }
  if (first.empty()) return "";
  constexpr int kCell = 10, kGap = 1;
  std::string out = absl::StrCat(
      "<h2>GPU allocation per node at the end of the run</h2>\n<p class=\"note\">One square per "
      "node, in the same place in every map: white is idle, dark blue fully allocated, grey has "
      "no GPUs. Each policy's first seed. Partly blue squares are nodes with GPUs left over; where "
      "many are pale, the leftovers are scattered (fragmented).</p>\n<div class=\"heatmaps\" "
      "style=\"display:flex;flex-wrap:wrap;gap:8px 32px\">\n");
  for (const RunResult* r : first) {
    const size_t n = r->node_gpu_alloc_milli.size();
    const int cols = static_cast<int>(std::clamp<size_t>(
        static_cast<size_t>(std::ceil(std::sqrt(static_cast<double>(n) * 3))), 1, 60));
    const int rows = static_cast<int>((n + cols - 1) / cols);
    const int w = cols * (kCell + kGap), hgt = rows * (kCell + kGap);
    int64_t full = 0, partly = 0, idle = 0;
    absl::StrAppend(&out, "<figure class=\"heat\" style=\"margin:0\"><figcaption>", HtmlEscape(r->policy),
                    " (seed ", r->seed, ")</figcaption>\n<svg class=\"heatmap\" role=\"img\" "
                    "aria-label=\"GPU allocation per node, ", HtmlEscape(r->policy),
                    "\" width=\"", w, "\" height=\"", hgt, "\" viewBox=\"0 0 ", w, " ", hgt,
                    "\">");
    for (size_t i = 0; i < n; ++i) {
      const int v = r->node_gpu_alloc_milli[i];
      std::string fill = "#bbb";
      if (v >= 0) {
        // White to #08306b (dark blue), linear in the allocated share.
        const double t = v / 1000.0;
        fill = absl::StrFormat("#%02x%02x%02x", static_cast<int>(255 + (8 - 255) * t),
                               static_cast<int>(255 + (48 - 255) * t),
                               static_cast<int>(255 + (107 - 255) * t));
        (v >= 1000 ? full : v == 0 ? idle : partly)++;
      }
      absl::StrAppend(&out, "<rect x=\"", static_cast<int>(i % cols) * (kCell + kGap), "\" y=\"",
                      static_cast<int>(i / cols) * (kCell + kGap), "\" width=\"", kCell,
                      "\" height=\"", kCell, "\" fill=\"", fill, "\"><title>node ", i, ": ",
                      v < 0 ? std::string("no GPUs") : absl::StrCat(v / 10, " % allocated"),
                      "</title></rect>");
    }
    absl::StrAppend(&out, "</svg><p class=\"note\">", full, " nodes full, ", partly,
                    " partly allocated, ", idle, " idle</p></figure>\n");
  }
  absl::StrAppend(&out, "</div>\n");
  return out;
}

std::string ReportHtml(const std::vector<RunResult>& runs,
                       const std::vector<PolicySummary>& summaries, const std::string& title,
                       const std::vector<std::string>& warnings) {
  const std::vector<PolicyCurve> curves = MeanCurves(runs, summaries);

  int x_min = 0, x_max = 0;
  bool any_point = false;
  for (const PolicyCurve& c : curves) {
    if (c.points.empty()) continue;
    const int lo = c.points.begin()->first, hi = c.points.rbegin()->first;
    x_min = any_point ? std::min(x_min, lo) : lo;
    x_max = any_point ? std::max(x_max, hi) : hi;
    any_point = true;
  }

  std::string h = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  absl::StrAppend(&h, "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
                  "<title>", HtmlEscape(title), " — gpusched simulation report</title>\n<style>",
                  kReportStyle, "</style>\n</head>\n<body>\n");
  absl::StrAppend(&h, "<h1>", HtmlEscape(title), "</h1>\n");

  // One line about the setting, from the runs themselves.
  if (!runs.empty()) {
    const RunResult& r0 = runs.front();
    absl::StrAppend(&h, "<p class=\"meta\">gpusched simulation report · ", runs.size(),
                    runs.size() == 1 ? " run" : " runs", " · ", summaries.size(),
                    summaries.size() == 1 ? " policy" : " policies", " · mode ",
                    HtmlEscape(ModesOf(runs)), " · ", r0.nodes, " nodes, ",
                    absl::StrFormat("%.0f", static_cast<double>(r0.gpu_capacity_milli) / 1000.0),
                    " GPUs · empty-cluster fragmentation ",
                    absl::StrFormat("%.2f", r0.empty_frag_amount_pct), " % of capacity</p>\n");
  } else {
    absl::StrAppend(&h, "<p class=\"meta\">gpusched simulation report · no runs</p>\n");
  }

  absl::StrAppend(
      &h,
      "<p>The KPI is the <b>unallocated GPU %</b> at <b>100 % arrived workload</b>: the share of "
      "the cluster's GPU capacity left unallocated at the moment the GPU requests that have "
      "arrived so far (failed pods included) add up to the whole cluster capacity. "
      "<b>Lower is better</b>; a perfect scheduler would leave 0 %. Values are the mean ± sample "
      "standard deviation over seeds.</p>\n"
      "<p class=\"note\">Reference: the FGD paper (Weng et al., USENIX ATC '23) reports these "
      "numbers for the <b>openb default trace</b> (1,213 nodes, 6,212 GPUs, inflated to 130 %, "
      "seeds 42–51): <b>FGD 4.77 ± 0.11</b>, <b>BestFit 7.14 ± 0.14</b>, GpuPacking 8.22 ± 0.53, "
      "GpuClustering 8.35 ± 0.61, DotProd 9.38 ± 0.19, Random 13.70 ± 0.33. They are the paper's "
      "numbers for that trace, not a result of this run, and compare only when this report is "
      "for the same trace.</p>\n");

  for (const std::string& w : warnings) {
    absl::StrAppend(&h, "<p class=\"note\"><b>Warning:</b> ", HtmlEscape(w), "</p>\n");
  }
  absl::StrAppend(&h, "<h2>Summary</h2>\n", SummaryTableHtml(summaries, curves));

  if (!any_point) {
    absl::StrAppend(&h, "<p class=\"note\">No curve points were recorded: nothing to plot.</p>\n");
  } else {
    const std::string x_label = "arrived GPU workload (% of cluster GPU capacity)";
    // The legend of the unallocated-GPU charts repeats each policy's KPI (mean at 100 %).
    auto with_kpi = [&](std::vector<Series> series) {
      for (size_t i = 0; i < series.size() && i < summaries.size(); ++i) {
        if (std::isfinite(summaries[i].mean_unalloc_100)) {
          series[i].legend_value = absl::StrFormat("%.2f", summaries[i].mean_unalloc_100);
        }
      }
      return series;
    };
    const int zoom_lo = std::max(80, x_min), zoom_hi = std::min(130, x_max);
    if (zoom_hi - zoom_lo >= 5) {
      Chart zoom;
      zoom.id = "clip-zoom";
      zoom.aria_label = "Unallocated GPU % vs arrived workload, 80 to 130 %";
      zoom.x_label = x_label;
      zoom.y_label = "unallocated GPU (%)";
      zoom.x_lo = zoom_lo;
      zoom.x_hi = zoom_hi;
      zoom.ideal_line = true;
      zoom.percent_y = true;
      zoom.legend_value_header = "KPI at 100 %";
      zoom.series = with_kpi(SeriesOf(curves, &MeanPoint::unallocated));
      absl::StrAppend(&h, "<h2>Unallocated GPU % where the policies separate (", zoom_lo, "–",
                      zoom_hi, " % arrived)</h2>\n",
                      "<p class=\"note\">Mean over seeds per policy. The dashed grey line is the "
                      "ideal (100 − arrived up to 100 %, then 0); the dotted line marks 100 % "
                      "arrived, where the KPI is read.</p>\n",
                      RenderChart(zoom));
    }
    Chart full;
    full.id = "clip-full";
    full.aria_label = "Unallocated GPU % vs arrived workload, full range";
    full.x_label = x_label;
    full.y_label = "unallocated GPU (%)";
    full.x_lo = x_min;
    full.x_hi = std::max(x_max, x_min + 1);
    full.ideal_line = true;
    full.percent_y = true;
    full.legend_value_header = "KPI at 100 %";
    full.series = with_kpi(SeriesOf(curves, &MeanPoint::unallocated));
    absl::StrAppend(&h, "<h2>Unallocated GPU %, full run</h2>\n", RenderChart(full));

    Chart frag;
    frag.id = "clip-frag";
    frag.aria_label = "Fragmentation amount % vs arrived workload";
    frag.x_label = x_label;
    frag.y_label = "fragmentation amount (% of capacity)";
    frag.x_lo = full.x_lo;
    frag.x_hi = full.x_hi;
    frag.percent_y = true;
    frag.series = SeriesOf(curves, &MeanPoint::frag_amount);
    absl::StrAppend(&h, "<h2>GPU fragmentation amount</h2>\n",
                    "<p class=\"note\">The FGD paper's cluster fragmentation amount (idle GPU "
                    "capacity that the typical pods could not use), % of cluster GPU capacity, "
                    "mean over seeds. An empty cluster already shows some, because CPU-only "
                    "typical pods count every idle GPU as fragment.</p>\n",
                    RenderChart(frag));

    Chart failed;
    failed.id = "clip-failed";
    failed.aria_label = "Failed pods vs arrived workload";
    failed.x_label = x_label;
    failed.y_label = "failed pods (cumulative)";
    failed.x_lo = full.x_lo;
    failed.x_hi = full.x_hi;
    failed.integer_y = true;
    failed.series = SeriesOf(curves, &MeanPoint::failed);
    absl::StrAppend(&h, "<h2>Failed pods</h2>\n",
                    "<p class=\"note\">Pods that found no place when they arrived (dropped, "
                    "never retried), cumulative, mean over seeds.</p>\n",
                    RenderChart(failed));
  }

  absl::StrAppend(&h, HeatMaps(runs));
  absl::StrAppend(&h, "<h2>Runs</h2>\n<details><summary>", runs.size(),
                  runs.size() == 1 ? " run" : " runs",
                  " (policy, seed, KPIs, decision-log digest; full data in runs.csv and "
                  "curves.csv)</summary>\n",
                  RunsTableHtml(runs), "</details>\n</body>\n</html>\n");
  return h;
}

}  // namespace

absl::Status WriteReport(const std::string& dir, const std::vector<RunResult>& runs,
                         const std::string& title, const std::vector<std::string>& warnings) {
  try {
    const fs::path root(dir);
    if (absl::Status s = MakeReportDir(dir); !s.ok()) return s;

    const std::vector<PolicySummary> summaries = Summarize(runs);

    Json summary = SummaryObject(summaries, title, warnings);
    Json run_list = Json::array();
    for (const RunResult& r : runs) run_list.push_back(RunObject(r));
    summary["runs"] = std::move(run_list);

    absl::Status st = WriteFile(root / "summary.json", Dump(summary) + "\n");
    if (!st.ok()) return st;
    st = WriteFile(root / "runs.csv", RunsCsv(runs));
    if (!st.ok()) return st;
    st = WriteFile(root / "curves.csv", CurvesCsv(runs));
    if (!st.ok()) return st;
    return WriteFile(root / "report.html", ReportHtml(runs, summaries, title, warnings));
  } catch (const std::exception& e) {  // nlohmann, filesystem or allocation failures
    return absl::InternalError(absl::StrCat("writing report into ", dir, ": ", e.what()));
  }
}

void PrintSummaryTable(std::ostream& out, const std::vector<PolicySummary>& summaries) {
  // The "±" of every value sits under the "±" of its header.
  constexpr size_t kRuns = 4, kKpi = 25, kFailed = 11, kSeconds = 7, kMeanWidth = 17;
  size_t name_width = DisplayWidth("policy");
  for (const PolicySummary& s : summaries) {
    name_width = std::max(name_width, DisplayWidth(s.policy));
  }
  name_width += 2;

  auto kpi = [&](double mean, double sd) {
    if (!std::isfinite(mean)) return PadRight(PadLeft("n/a", kMeanWidth), kKpi);
    const double shown_sd = std::isfinite(sd) ? sd : 0;
    return PadRight(absl::StrFormat("%*.2f ± %.2f", static_cast<int>(kMeanWidth), mean, shown_sd),
                    kKpi);
  };

  out << PadRight("policy", name_width) << PadLeft("runs", kRuns) << "  "
      << PadRight("unalloc@100 (mean ± sd)", kKpi) << "  "
      << PadRight("unalloc@130 (mean ± sd)", kKpi) << "  " << PadLeft("failed pods", kFailed)
      << "  " << PadLeft("s/run", kSeconds) << "\n";
  for (const PolicySummary& s : summaries) {
    const std::string failed =
        std::isfinite(s.mean_failed_pods) ? absl::StrFormat("%.1f", s.mean_failed_pods) : "n/a";
    const std::string seconds =
        std::isfinite(s.mean_wall_seconds) ? absl::StrFormat("%.2f", s.mean_wall_seconds) : "n/a";
    out << PadRight(s.policy, name_width) << PadLeft(absl::StrCat(s.runs), kRuns) << "  "
        << kpi(s.mean_unalloc_100, s.sd_unalloc_100) << "  "
        << kpi(s.mean_unalloc_130, s.sd_unalloc_130) << "  " << PadLeft(failed, kFailed) << "  "
        << PadLeft(seconds, kSeconds) << "\n";
  }
}

std::string SummaryJson(const std::vector<PolicySummary>& summaries, const std::string& title,
                        const std::vector<std::string>& warnings) {
  try {
    return Dump(SummaryObject(summaries, title, warnings));
  } catch (const std::exception& e) {
    // Not expected (Dump replaces invalid UTF-8); keep the output valid JSON regardless.
    Json err = Json::object();
    err["title"] = "";
    err["error"] = std::string(e.what());
    return err.dump(2, ' ', false, Json::error_handler_t::replace);
  }
}

}  // namespace gpusched::simulator

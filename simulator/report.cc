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

std::string HtmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// RFC 4180: quote a field holding a comma, quote or line break; double the quotes inside.
std::string CsvField(std::string_view s) {
  if (s.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(s);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

// Width on a terminal, counting one column per UTF-8 code point ("±" is two bytes, one column).
size_t DisplayWidth(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++n;
  }
  return n;
}

std::string PadRight(std::string s, size_t width) {
  const size_t w = DisplayWidth(s);
  if (w < width) s.append(width - w, ' ');
  return s;
}

std::string PadLeft(const std::string& s, size_t width) {
  const size_t w = DisplayWidth(s);
  return w < width ? std::string(width - w, ' ') + s : s;
}

// At most `max_points` code points, with an ellipsis when cut; never splits a UTF-8 sequence.
std::string Truncate(std::string_view s, size_t max_points) {
  if (DisplayWidth(s) <= max_points) return std::string(s);
  size_t points = 0, i = 0;
  for (; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
      if (points == max_points - 1) break;
      ++points;
    }
  }
  return absl::StrCat(std::string(s.substr(0, i)), "…");
}

absl::Status IoError(const std::error_code& ec, const std::string& message) {
  const std::string text = absl::StrCat(message, ": ", ec.message());
  if (ec == std::errc::permission_denied || ec == std::errc::operation_not_permitted ||
      ec == std::errc::read_only_file_system) {
    return absl::PermissionDeniedError(text);
  }
  if (ec == std::errc::no_such_file_or_directory) return absl::NotFoundError(text);
  if (ec == std::errc::not_a_directory || ec == std::errc::file_exists ||
      ec == std::errc::is_a_directory) {
    return absl::FailedPreconditionError(text);
  }
  return absl::InternalError(text);
}

absl::Status WriteFile(const fs::path& path, const std::string& contents) {
  errno = 0;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out.is_open()) {
    const int err = errno != 0 ? errno : EIO;
    return IoError(std::error_code(err, std::generic_category()),
                   absl::StrCat("cannot open ", path.string(), " for writing"));
  }
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  out.close();
  if (out.fail()) {
    const int err = errno != 0 ? errno : EIO;
    return IoError(std::error_code(err, std::generic_category()),
                   absl::StrCat("cannot write ", path.string()));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// JSON

Json SummaryObject(const std::vector<PolicySummary>& summaries, const std::string& title) {
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

// Fixed palette (Tableau 10 without its grey, which is kept for the ideal line).
constexpr const char* kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                    "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#393b79"};
constexpr size_t kPaletteSize = sizeof(kPalette) / sizeof(kPalette[0]);

std::string ColourFor(size_t index) { return kPalette[index % kPaletteSize]; }

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
// SVG line charts.

struct Series {
  std::string name;
  std::string colour;
  std::vector<std::pair<double, double>> points;  // ascending x
  std::string legend_value;  // shown right-aligned after the name in the legend, if not empty
};

struct Chart {
  std::string id;  // unique within the page (clip path id)
  std::string aria_label;
  std::string x_label;
  std::string y_label;
  double x_lo = 0, x_hi = 100;
  bool ideal_line = false;  // unallocated = 100 - arrived, 0 beyond 100
  bool integer_y = false;
  bool percent_y = false;  // the y axis stops at 100 when the data do
  std::string legend_value_header;  // heads the legend's value column
  std::vector<Series> series;
};

// 1, 2 or 5 times a power of ten, at least `raw`.
double NiceStep(double raw) {
  if (!(raw > 0) || !std::isfinite(raw)) return 1;
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / p;
  const double m = f <= 1.0 ? 1 : f <= 2.0 ? 2 : f <= 5.0 ? 5 : 10;
  return m * p;
}

std::string TickLabel(double v, double step) {
  int decimals = 0;
  if (step < 1) decimals = static_cast<int>(std::ceil(-std::log10(step) - 1e-9));
  if (std::fabs(v) < step * 1e-6) v = 0;
  return absl::StrFormat("%.*f", decimals, v);
}

std::string RenderChart(const Chart& c) {
  constexpr double kWidth = 960, kHeight = 380;
  constexpr double kLeft = 68, kRight = 750, kTop = 18, kBottom = 326;
  constexpr double kLegendX = 770;

  // y range: 0 .. max of what is drawn inside the x range, plus a margin, rounded to a tick.
  double y_max = 0;
  for (const Series& s : c.series) {
    for (const auto& [x, y] : s.points) {
      if (x >= c.x_lo && x <= c.x_hi) y_max = std::max(y_max, y);
    }
  }
  if (!(y_max > 0)) y_max = 1;  // all zero (e.g. no failed pods): still a readable axis
  double y_step = NiceStep(y_max * 1.06 / 5);
  if (c.integer_y) y_step = std::max(1.0, std::round(y_step));
  double y_hi = std::ceil(y_max * 1.06 / y_step - 1e-9) * y_step;
  if (c.percent_y && y_max <= 100 && y_hi > 100) {
    y_hi = 100;
    y_step = NiceStep(100.0 / 5);
  }
  const double x_span = std::max(c.x_hi - c.x_lo, 1e-9);

  auto px = [&](double x) { return kLeft + (x - c.x_lo) / x_span * (kRight - kLeft); };
  auto py = [&](double y) { return kBottom - y / y_hi * (kBottom - kTop); };
  auto num = [](double v) { return absl::StrFormat("%.1f", v); };

  std::string svg = absl::StrFormat(
      "<svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" role=\"img\" "
      "aria-label=\"%s\">\n",
      kWidth, kHeight, kWidth, kHeight, HtmlEscape(c.aria_label));
  absl::StrAppend(&svg, "<defs><clipPath id=\"", c.id, "\"><rect x=\"", num(kLeft), "\" y=\"",
                  num(kTop), "\" width=\"", num(kRight - kLeft), "\" height=\"",
                  num(kBottom - kTop), "\"/></clipPath></defs>\n");

  // Grid and y ticks.
  std::string grid, labels;
  for (int i = 0; i * y_step <= y_hi + y_step * 1e-6; ++i) {
    const double y = i * y_step;
    const std::string yy = num(py(y));
    absl::StrAppend(&grid, "M", num(kLeft), " ", yy, "H", num(kRight));
    absl::StrAppend(&labels, "<text class=\"tick\" x=\"", num(kLeft - 6), "\" y=\"", yy,
                    "\" dy=\"4\" text-anchor=\"end\">", TickLabel(y, y_step), "</text>");
  }
  // x ticks: about 10 of them.
  const double x_step = std::max(1.0, NiceStep(x_span / 10));
  const double x_first = std::ceil(c.x_lo / x_step - 1e-9) * x_step;
  for (int i = 0; x_first + i * x_step <= c.x_hi + 1e-9; ++i) {
    const double x = x_first + i * x_step;
    const std::string xx = num(px(x));
    absl::StrAppend(&grid, "M", xx, " ", num(kTop), "V", num(kBottom));
    absl::StrAppend(&labels, "<text class=\"tick\" x=\"", xx, "\" y=\"", num(kBottom + 16),
                    "\" text-anchor=\"middle\">", TickLabel(x, x_step), "</text>");
  }
  absl::StrAppend(&svg, "<path class=\"grid\" d=\"", grid, "\"/>\n", labels, "\n");

  // Axes.
  absl::StrAppend(&svg, "<path class=\"axis\" d=\"M", num(kLeft), " ", num(kTop), "V",
                  num(kBottom), "H", num(kRight), "\"/>\n");
  absl::StrAppend(&svg, "<text class=\"label\" x=\"", num((kLeft + kRight) / 2), "\" y=\"",
                  num(kBottom + 40), "\" text-anchor=\"middle\">", HtmlEscape(c.x_label),
                  "</text>\n");
  absl::StrAppend(&svg, "<text class=\"label\" transform=\"translate(18 ",
                  num((kTop + kBottom) / 2), ") rotate(-90)\" text-anchor=\"middle\">",
                  HtmlEscape(c.y_label), "</text>\n");

  // The 100 % arrived marker.
  if (c.x_lo < 100 && c.x_hi >= 100) {
    const std::string xx = num(px(100));
    absl::StrAppend(&svg, "<path class=\"marker\" d=\"M", xx, " ", num(kTop), "V", num(kBottom),
                    "\"/><text class=\"marker-label\" x=\"", num(px(100) + 4), "\" y=\"",
                    num(kTop + 12), "\">100 %</text>\n");
  }

  absl::StrAppend(&svg, "<g clip-path=\"url(#", c.id, ")\">\n");
  if (c.ideal_line) {
    std::vector<std::pair<double, double>> ideal;
    if (c.x_lo < 100) ideal.emplace_back(c.x_lo, 100 - c.x_lo);
    if (c.x_lo < 100 && c.x_hi > 100) ideal.emplace_back(100, 0);
    if (c.x_hi > c.x_lo) ideal.emplace_back(c.x_hi, c.x_hi >= 100 ? 0 : 100 - c.x_hi);
    if (c.x_lo >= 100) ideal.insert(ideal.begin(), std::make_pair(c.x_lo, 0.0));
    std::string pts;
    for (const auto& [x, y] : ideal) absl::StrAppend(&pts, pts.empty() ? "" : " ", num(px(x)), ",", num(py(y)));
    absl::StrAppend(&svg, "<polyline class=\"ideal\" points=\"", pts, "\"/>\n");
  }
  for (const Series& s : c.series) {
    std::string pts;
    size_t n = 0;
    for (const auto& [x, y] : s.points) {
      if (x < c.x_lo || x > c.x_hi) continue;
      absl::StrAppend(&pts, pts.empty() ? "" : " ", num(px(x)), ",", num(py(y)));
      ++n;
    }
    if (n == 0) continue;
    if (n == 1) {  // a single point would draw nothing as a polyline
      const auto& [x, y] = *std::find_if(s.points.begin(), s.points.end(), [&](const auto& p) {
        return p.first >= c.x_lo && p.first <= c.x_hi;
      });
      absl::StrAppend(&svg, "<circle cx=\"", num(px(x)), "\" cy=\"", num(py(y)),
                      "\" r=\"3\" fill=\"", s.colour, "\"><title>", HtmlEscape(s.name),
                      "</title></circle>\n");
      continue;
    }
    absl::StrAppend(&svg, "<polyline class=\"series\" stroke=\"", s.colour, "\" points=\"", pts,
                    "\"><title>", HtmlEscape(s.name), "</title></polyline>\n");
  }
  absl::StrAppend(&svg, "</g>\n");

  // Legend, right of the plot area so it never covers a line. Entries run top to bottom in the
  // order the lines end at the right edge (highest first), so the legend reads like the chart.
  std::vector<std::pair<double, size_t>> order;  // (-last y in range, index)
  for (size_t i = 0; i < c.series.size(); ++i) {
    double last = -std::numeric_limits<double>::infinity();
    for (const auto& [x, y] : c.series[i].points) {
      if (x >= c.x_lo && x <= c.x_hi) last = y;
    }
    order.emplace_back(-last, i);
  }
  std::stable_sort(order.begin(), order.end());
  bool has_values = false;
  for (const Series& s : c.series) has_values = has_values || !s.legend_value.empty();

  std::string legend = "<g class=\"legend\">";
  double ly = kTop + 10;
  if (has_values && !c.legend_value_header.empty()) {
    absl::StrAppend(&legend, "<text class=\"tick\" x=\"", num(kWidth - 6), "\" y=\"", num(ly),
                    "\" dy=\"4\" text-anchor=\"end\">", HtmlEscape(c.legend_value_header),
                    "</text>");
    ly += 18;
  }
  auto entry = [&](const std::string& name, const std::string& value,
                   const std::string& line_attrs, size_t max_points) {
    absl::StrAppend(&legend, "<line x1=\"", num(kLegendX), "\" y1=\"", num(ly), "\" x2=\"",
                    num(kLegendX + 24), "\" y2=\"", num(ly), "\" ", line_attrs,
                    "/><text x=\"", num(kLegendX + 30), "\" y=\"", num(ly), "\" dy=\"4\">",
                    HtmlEscape(Truncate(name, max_points)), "</text>");
    if (!value.empty()) {
      absl::StrAppend(&legend, "<text x=\"", num(kWidth - 6), "\" y=\"", num(ly),
                      "\" dy=\"4\" text-anchor=\"end\">", HtmlEscape(value), "</text>");
    }
    ly += 20;
  };
  for (const auto& [neg_last, i] : order) {
    const Series& s = c.series[i];
    entry(s.name, s.legend_value, absl::StrCat("stroke=\"", s.colour, "\" stroke-width=\"3\""),
          has_values ? 15 : 24);
  }
  if (c.ideal_line) entry("ideal (100 − arrived)", "", "class=\"ideal\"", 24);
  absl::StrAppend(&legend, "</g>\n");
  absl::StrAppend(&svg, legend, "</svg>\n");
  return svg;
}

// ---------------------------------------------------------------------------------------------
// HTML page.

constexpr const char kStyle[] = R"css(
body{font-family:-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#222;
  max-width:1000px;margin:24px auto;padding:0 16px;line-height:1.45}
h1{font-size:1.6em;margin-bottom:4px}
h2{font-size:1.2em;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#555;margin-top:0}
.note{color:#444;font-size:.95em}
table{border-collapse:collapse;margin:12px 0;font-variant-numeric:tabular-nums}
th,td{padding:5px 12px;border-bottom:1px solid #e4e4e4;text-align:right;white-space:nowrap}
th{background:#f4f4f4;font-weight:600}
td.name,th.name{text-align:left}
td.best{font-weight:700}
.swatch{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:8px;
  vertical-align:-1px}
details{margin:12px 0}
summary{cursor:pointer;color:#333}
svg.chart{max-width:100%;height:auto;display:block;margin:8px 0 4px}
svg text{font-size:12px;fill:#333}
svg text.tick{fill:#555}
svg text.label{font-size:13px;fill:#222}
svg .grid{stroke:#ececec;stroke-width:1;fill:none}
svg .axis{stroke:#888;stroke-width:1;fill:none}
svg .marker{stroke:#555;stroke-width:1;stroke-dasharray:2 3;fill:none}
svg text.marker-label{fill:#555;font-size:11px}
svg .ideal{stroke:#999;stroke-width:1.5;stroke-dasharray:6 4;fill:none}
svg .series{fill:none;stroke-width:2;stroke-linejoin:round}
)css";

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

std::string ReportHtml(const std::vector<RunResult>& runs,
                       const std::vector<PolicySummary>& summaries, const std::string& title) {
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
                  kStyle, "</style>\n</head>\n<body>\n");
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

  absl::StrAppend(&h, "<h2>Runs</h2>\n<details><summary>", runs.size(),
                  runs.size() == 1 ? " run" : " runs",
                  " (policy, seed, KPIs, decision-log digest; full data in runs.csv and "
                  "curves.csv)</summary>\n",
                  RunsTableHtml(runs), "</details>\n</body>\n</html>\n");
  return h;
}

}  // namespace

absl::Status WriteReport(const std::string& dir, const std::vector<RunResult>& runs,
                         const std::string& title) {
  if (dir.empty()) return absl::InvalidArgumentError("report directory: empty path");
  try {
    const fs::path root(dir);
    std::error_code ec;
    fs::create_directories(root, ec);
    if (ec) return IoError(ec, absl::StrCat("cannot create report directory ", dir));
    if (!fs::is_directory(root, ec)) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot create report directory ", dir, ": not a directory"));
    }

    const std::vector<PolicySummary> summaries = Summarize(runs);

    Json summary = SummaryObject(summaries, title);
    Json run_list = Json::array();
    for (const RunResult& r : runs) run_list.push_back(RunObject(r));
    summary["runs"] = std::move(run_list);

    absl::Status st = WriteFile(root / "summary.json", Dump(summary) + "\n");
    if (!st.ok()) return st;
    st = WriteFile(root / "runs.csv", RunsCsv(runs));
    if (!st.ok()) return st;
    st = WriteFile(root / "curves.csv", CurvesCsv(runs));
    if (!st.ok()) return st;
    return WriteFile(root / "report.html", ReportHtml(runs, summaries, title));
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

std::string SummaryJson(const std::vector<PolicySummary>& summaries, const std::string& title) {
  try {
    return Dump(SummaryObject(summaries, title));
  } catch (const std::exception& e) {
    // Not expected (Dump replaces invalid UTF-8); keep the output valid JSON regardless.
    Json err = Json::object();
    err["title"] = "";
    err["error"] = std::string(e.what());
    return err.dump(2, ' ', false, Json::error_handler_t::replace);
  }
}

}  // namespace gpusched::simulator

#include "simulator/html.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <fstream>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace gpusched::simulator {

namespace fs = std::filesystem;

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

absl::Status MakeReportDir(const std::string& dir) {
  if (dir.empty()) return absl::InvalidArgumentError("report directory: empty path");
  std::error_code ec;
  fs::create_directories(fs::path(dir), ec);
  if (ec) return IoError(ec, absl::StrCat("cannot create report directory ", dir));
  if (!fs::is_directory(fs::path(dir), ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create report directory ", dir, ": not a directory"));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// SVG line charts.


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
  if (c.arrived_marker && c.x_lo < 100 && c.x_hi >= 100) {
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

const char kReportStyle[] = R"css(
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

constexpr const char* kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                    "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#393b79"};
constexpr size_t kPaletteSize = sizeof(kPalette) / sizeof(kPalette[0]);

std::string ColourFor(size_t index) { return kPalette[index % kPaletteSize]; }

}  // namespace gpusched::simulator

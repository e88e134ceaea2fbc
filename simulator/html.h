#pragma once

// Small pieces shared by the simulator's reports: escaping, padded text tables, file writing
// with errors that name the file, and self-contained SVG line charts.

#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace gpusched::simulator {

std::string HtmlEscape(std::string_view s);
// RFC 4180: quote a field holding a comma, quote or line break; double the quotes inside.
std::string CsvField(std::string_view s);
// Width on a terminal, counting one column per UTF-8 code point ("±" is two bytes, one column).
size_t DisplayWidth(std::string_view s);
std::string PadRight(std::string s, size_t width);
std::string PadLeft(const std::string& s, size_t width);
// At most `max_points` code points, with an ellipsis when cut; never splits a UTF-8 sequence.
std::string Truncate(std::string_view s, size_t max_points);
// A filesystem error as a Status of the matching code, with `message` first.
absl::Status IoError(const std::error_code& ec, const std::string& message);
absl::Status WriteFile(const std::filesystem::path& path, const std::string& contents);
// Creates the report directory `dir` (and its parents) unless it exists; the error names it.
absl::Status MakeReportDir(const std::string& dir);

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
  bool arrived_marker = true;  // a dashed "100 %" line at x = 100 (x is arrived workload %)
  bool integer_y = false;
  bool percent_y = false;  // the y axis stops at 100 when the data do
  std::string legend_value_header;  // heads the legend's value column
  std::vector<Series> series;
};

// An inline <svg class="chart"> element.
std::string RenderChart(const Chart& c);
// The colour of the i-th series (a fixed palette, repeating).
std::string ColourFor(size_t index);
// The CSS of the report pages.
extern const char kReportStyle[];

}  // namespace gpusched::simulator

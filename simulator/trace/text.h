#pragma once

// Line and field splitting shared by the trace readers (openb CSV, Philly TSV).
//
//   LineReader lines(text);
//   std::string_view line; int64_t number; std::vector<std::string_view> fields;
//   while (lines.Next(&line, &number)) { SplitOn(line, ',', &fields); ... }

#include <cstdint>
#include <string_view>
#include <vector>

namespace gpusched::simulator::trace {

// Iterates the physical lines of `text`, dropping a trailing '\r' and skipping blank lines
// (empty or only spaces/tabs). Line numbers are 1-based physical lines, so that they match what
// an editor shows even when blank lines are skipped. A UTF-8 byte order mark at the very start
// is not part of the first line.
class LineReader {
 public:
  explicit LineReader(std::string_view text) : text_(text) {
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") text_.remove_prefix(3);
  }

  bool Next(std::string_view* line, int64_t* number) {
    while (pos_ < text_.size()) {
      size_t end = text_.find('\n', pos_);
      if (end == std::string_view::npos) end = text_.size();
      std::string_view l = text_.substr(pos_, end - pos_);
      pos_ = end + 1;
      ++line_no_;
      if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
      if (l.find_first_not_of(" \t") == std::string_view::npos) continue;
      *line = l;
      *number = line_no_;
      return true;
    }
    return false;
  }

 private:
  std::string_view text_;
  size_t pos_ = 0;
  int64_t line_no_ = 0;
};

// Splits `line` at every `sep` (no quoting: neither format has any); n separators give n + 1
// fields, empty ones included.
inline void SplitOn(std::string_view line, char sep, std::vector<std::string_view>* fields) {
  fields->clear();
  size_t start = 0;
  while (true) {
    const size_t at = line.find(sep, start);
    if (at == std::string_view::npos) {
      fields->push_back(line.substr(start));
      return;
    }
    fields->push_back(line.substr(start, at - start));
    start = at + 1;
  }
}

}  // namespace gpusched::simulator::trace

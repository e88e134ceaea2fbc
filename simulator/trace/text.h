#pragma once

// Line and field splitting shared by the trace readers (openb CSV, Philly TSV).
//
//   LineReader lines(text);
//   std::string_view line; int64_t number; std::vector<std::string_view> fields;
//   while (lines.Next(&line, &number)) { SplitOn(line, ',', &fields); ... }

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/printable.h"

namespace gpusched::simulator::trace {

// What the size-limit error of the Read* functions suggests (common/file.h ReadInputFile).
inline constexpr std::string_view kMaxInputHint = "raise it with --max-input-mb";

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
// fields, empty ones included. At most `max_fields` fields are stored: the rest of the line after
// the last stored separator is dropped and the function returns false, so that a hostile line of
// millions of separators costs O(line) time and O(max_fields) memory. True when all fit.
inline bool SplitOn(std::string_view line, char sep, std::vector<std::string_view>* fields,
                    size_t max_fields = static_cast<size_t>(-1)) {
  fields->clear();
  size_t start = 0;
  while (fields->size() < max_fields) {
    const size_t at = line.find(sep, start);
    if (at == std::string_view::npos) {
      fields->push_back(line.substr(start));
      return true;
    }
    fields->push_back(line.substr(start, at - start));
    start = at + 1;
  }
  return false;
}

// Number of occurrences of `sep` in `line` (to report a field count without storing the fields).
inline size_t CountOf(std::string_view line, char sep) {
  size_t n = 0;
  for (char c : line) n += (c == sep);
  return n;
}

using ::gpusched::QuoteForMessage;

// A name from the input (a CSV column, a JSON key) for a message: as it is when it is 1..80
// printable ASCII bytes without '"', else QuoteForMessage(name).
inline std::string NameForMessage(std::string_view name) {
  bool plain = !name.empty() && name.size() <= 80;
  for (char ch : name) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c >= 0x7f || c == '"') plain = false;
  }
  return plain ? std::string(name) : QuoteForMessage(name);
}

}  // namespace gpusched::simulator::trace

#pragma once

// Input bytes in messages. Whatever a user gives us (a file of binary garbage, a CSV header with
// control characters) may be quoted in an error, but never as raw bytes that the terminal would
// interpret: every message shows input through these functions.
//
//   absl::StrCat("column ", QuoteForMessage(name), ": ...")   // "gpu\x07"  (quoted)
//   absl::StrCat("unexpected ", EscapeForMessage(token, 40))   // gpu\x07    (bare)
//
// Printable ASCII is kept; '\\' and '"' are escaped with a backslash; TAB, LF and CR are \t, \n,
// \r; every other byte (controls, DEL, bytes >= 0x80) is \xNN; after `max_shown` bytes the rest
// is cut and "..." appended. Stateless; thread-safe.

#include <cstddef>
#include <string>
#include <string_view>

namespace gpusched {

inline std::string EscapeForMessage(std::string_view v, size_t max_shown = 80) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (char ch : v.substr(0, max_shown)) {
    const unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
      case '\\':
        out.push_back('\\');
        out.push_back(ch);
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          out += "\\x";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 15]);
        } else {
          out.push_back(ch);
        }
    }
  }
  if (v.size() > max_shown) out += "...";
  return out;
}

// EscapeForMessage in double quotes.
inline std::string QuoteForMessage(std::string_view v, size_t max_shown = 80) {
  return "\"" + EscapeForMessage(v, max_shown) + "\"";
}

// Whether every byte is printable ASCII (0x20..0x7e): what a message may hold besides '\n'.
inline bool IsPrintableAscii(std::string_view s) {
  for (char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c >= 0x7f) return false;
  }
  return true;
}

}  // namespace gpusched

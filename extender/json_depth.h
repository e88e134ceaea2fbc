#pragma once

// A guard for JSON from outside: deeper nesting is refused before parsing. nlohmann parses
// iteratively, but copies, dumps and compares recursively, so 60 KiB of '[' (30,000 levels)
// exhausted the stack (found by bench/fuzz). Kubernetes objects nest a few dozen levels at most.
// Stateless, thread-safe.

#include <cstddef>
#include <string_view>

namespace gpusched::extender {

inline constexpr int kMaxJsonDepth = 512;

// The 1-based offset of the bracket that nests deeper than kMaxJsonDepth, or 0 when none does
// (brackets inside strings do not count). Linear, no allocation.
inline size_t TooDeepAt(std::string_view text) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return i + 1;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return 0;
}

}  // namespace gpusched::extender

#pragma once

// Small conversions the HTTP server and client share (not part of the http.h API).

#include <algorithm>
#include <chrono>
#include <string_view>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace gpusched::http::internal {

// Debian's Abseil has its own string_view type: std::string_view must be converted explicitly.
inline absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// absl::Duration to a chrono duration that is safe to add to steady_clock::now() (at most a year).
inline std::chrono::nanoseconds ToChrono(absl::Duration d) {
  constexpr absl::Duration kMax = absl::Hours(24 * 365);
  d = std::clamp(d, absl::ZeroDuration(), kMax);
  return absl::ToChronoNanoseconds(d);
}

}  // namespace gpusched::http::internal

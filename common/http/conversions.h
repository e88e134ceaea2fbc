#pragma once

// Small conversions the HTTP server and client share (not part of the http.h API).

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
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

// The most a read may take at once: the server and the client reserve this much in their read
// buffers, since Beast reads only what the buffer's capacity allows (an emptied flat_buffer
// stays small: a syscall per few hundred bytes of a 100 KB body otherwise).
inline constexpr size_t kReadChunk = size_t{64} << 10;

// What identifies a version of a file on disk (certificates and tokens are re-read when it
// changes).
struct FileStamp {
  bool exists = false;
  int64_t mtime_ns = 0;
  int64_t size = 0;
  uint64_t inode = 0;
  bool operator==(const FileStamp&) const = default;
};

inline FileStamp Stamp(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return {};
  return FileStamp{.exists = true,
                   .mtime_ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec,
                   .size = static_cast<int64_t>(st.st_size),
                   .inode = static_cast<uint64_t>(st.st_ino)};
}

}  // namespace gpusched::http::internal

#pragma once

// Reading a whole input file with a size limit, refusing what is not a regular file, so a wrong
// path (a directory, a device, a pipe, a huge log) is a clear error instead of an unbounded read.
//
//   ASSIGN_OR_RETURN(std::string pem, ReadSmallFile("/etc/gpusched/tls/ca.crt"));   // 1 MiB
//   ASSIGN_OR_RETURN(std::string csv, ReadInputFile(path, limits.max_file_bytes));
//
// Errors name the file and say what it is:
//   NotFound            "pods.csv: no such file"
//   FailedPrecondition  "traces/: is a directory, not a file"
//                       "/dev/zero: is a character device, not a regular file"
//                       "big.csv: is 52.4 MB, over the input limit of 16.0 MB
//                        (raise it with --max-input-mb)"          <- `limit_hint` is appended
//                       "pods.csv: cannot read: Permission denied"
// The size is checked before reading (stat) and again while reading (a file that grows past the
// limit meanwhile is refused too), so the memory used is at most `max_bytes` plus one chunk.
// Stateless; safe from any thread.

#include <sys/stat.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace gpusched {

// The default per-file limit of the offline tools' trace, topology and profile readers: large
// enough for a 1.2 M-row job trace (~190 MB), small enough that a wrong path cannot exhaust memory.
inline constexpr size_t kDefaultMaxInputBytes = size_t{256} << 20;

// "52.4 MB", "812 bytes": sizes in messages.
inline std::string HumanBytes(uint64_t bytes) {
  if (bytes < 10'000) return absl::StrCat(bytes, " bytes");
  if (bytes < 10'000'000) return absl::StrFormat("%.1f kB", static_cast<double>(bytes) / 1e3);
  if (bytes < 10'000'000'000) return absl::StrFormat("%.1f MB", static_cast<double>(bytes) / 1e6);
  return absl::StrFormat("%.1f GB", static_cast<double>(bytes) / 1e9);
}

// What `mode` is, for "is a ..., not a regular file".
inline const char* FileKind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a pipe (FIFO)";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

inline absl::StatusOr<std::string> ReadInputFile(const std::string& path, size_t max_bytes,
                                                 std::string_view limit_hint = "") {
  auto too_big = [&](uint64_t size, bool at_least) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": is ", at_least ? "more than " : "", HumanBytes(size),
                     ", over the input limit of ", HumanBytes(max_bytes),
                     limit_hint.empty() ? std::string() : absl::StrCat(" (", std::string(limit_hint), ")")));
  };
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int e = errno;
    if (e == ENOENT) return absl::NotFoundError(absl::StrCat(path, ": no such file"));
    return absl::FailedPreconditionError(absl::StrCat(path, ": cannot read: ", std::strerror(e)));
  }
  if (S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(path, ": is a directory, not a file"));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": is ", FileKind(st.st_mode), ", not a regular file"));
  }
  if (static_cast<uint64_t>(st.st_size) > max_bytes) return too_big(st.st_size, false);
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": cannot read: ", std::strerror(errno)));
  }
  std::string out;
  out.reserve(static_cast<size_t>(st.st_size));
  char chunk[1 << 16];
  size_t n = 0;
  while ((n = std::fread(chunk, 1, sizeof chunk, f)) > 0) {
    if (out.size() + n > max_bytes) {
      std::fclose(f);
      return too_big(out.size() + n, true);
    }
    out.append(chunk, n);
  }
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) return absl::FailedPreconditionError(absl::StrCat(path, ": read error"));
  return out;
}

// Certificates, keys, `nvidia-smi topo -m` output: 1 MiB by default.
inline absl::StatusOr<std::string> ReadSmallFile(const std::string& path,
                                                 size_t max_bytes = size_t{1} << 20) {
  return ReadInputFile(path, max_bytes);
}

}  // namespace gpusched

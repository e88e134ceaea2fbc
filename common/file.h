#pragma once

// Reading a small whole file (certificates, keys, `nvidia-smi topo -m` output) with a size limit,
// so a wrong path (a device, a huge log) is an error instead of an unbounded read.
//
//   ASSIGN_OR_RETURN(std::string pem, ReadSmallFile("/etc/gpusched/tls/ca.crt"));
//
// FailedPrecondition naming the file when it cannot be read or is larger than `max_bytes`.
// Stateless; safe from any thread.

#include <cstddef>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace gpusched {

inline absl::StatusOr<std::string> ReadSmallFile(const std::string& path, size_t max_bytes = size_t{1} << 20) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::FailedPreconditionError(absl::StrCat("cannot read ", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string out = ss.str();
  if (out.size() > max_bytes) {
    return absl::FailedPreconditionError(absl::StrCat(path, ": larger than ", max_bytes, " bytes"));
  }
  return out;
}

}  // namespace gpusched

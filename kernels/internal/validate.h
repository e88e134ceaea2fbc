#pragma once

// Argument checks shared by the CUDA (probe_cuda.cc) and no-CUDA (probe_stub.cc) builds, so
// that a bad argument is InvalidArgument whether or not CUDA is compiled in:
//
//   RETURN_IF_ERROR(ValidateBlockSize(block_size));   // 33 -> InvalidArgument("block_size ...")
//
// ValidateDeviceInRange takes the device count from the caller (the CUDA build asks
// cudaGetDeviceCount, the fake backend its spec).

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "kernels/probe.h"

namespace gpusched::kernels::internal {

inline absl::Status ValidateDeviceIndex(std::string_view field, int device) {
  if (device < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s must be a device index >= 0, got %d", field, device));
  }
  return absl::OkStatus();
}

inline absl::Status ValidateBlockSize(int block_size) {
  if (block_size < 1 || block_size > 1024 || block_size % 32 != 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("block_size must be a multiple of 32 in [32, 1024], got %d", block_size));
  }
  return absl::OkStatus();
}

inline absl::Status ValidateBytes(int64_t bytes) {
  if (bytes <= 0 || bytes > kMaxProbeBytes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("bytes must be in [1, %d] (4 GiB), got %d", kMaxProbeBytes, bytes));
  }
  return absl::OkStatus();
}

inline absl::Status ValidateSaxpyElements(int n) {
  if (n < 1 || n > kMaxSaxpyElements) {
    return absl::InvalidArgumentError(
        absl::StrFormat("n must be in [1, %d], got %d", kMaxSaxpyElements, n));
  }
  return absl::OkStatus();
}

inline absl::Status ValidateBudget(absl::Duration budget) {
  if (budget <= absl::ZeroDuration() || budget > kMaxThroughputBudget) {
    return absl::InvalidArgumentError(absl::StrFormat("budget must be in (0, %s], got %s",
                                                      absl::FormatDuration(kMaxThroughputBudget),
                                                      absl::FormatDuration(budget)));
  }
  return absl::OkStatus();
}

// `device` (already checked >= 0) against the `count` devices a backend has; `what` says whose
// devices they are ("CUDA", "fake").
inline absl::Status ValidateDeviceInRange(std::string_view field, int device, int count,
                                          std::string_view what) {
  if (device >= count) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s %d is out of range: %d %s device(s) visible%s", field, device, count, what,
        count == 0 && what == "CUDA" ? " (cudaGetDeviceCount reported none)" : ""));
  }
  return absl::OkStatus();
}

inline absl::Status ValidatePeerPair(int src, int dst) {
  if (absl::Status s = ValidateDeviceIndex("src", src); !s.ok()) return s;
  if (absl::Status s = ValidateDeviceIndex("dst", dst); !s.ok()) return s;
  if (src == dst) {
    return absl::InvalidArgumentError(
        absl::StrFormat("src and dst must be different devices, both are %d", src));
  }
  return absl::OkStatus();
}

}  // namespace gpusched::kernels::internal

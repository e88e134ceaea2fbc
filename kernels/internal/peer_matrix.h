#pragma once

// ProbePeerMatrix for any source of devices and pair probes: the free function in probe_cuda.cc
// and ProbeBackend::ProbePeerMatrix (backend.cc) share it, so both fill and report the same way.
//
//   absl::StatusOr<PeerMatrix> m = BuildPeerMatrix(bytes, [] { return DeviceCount(); },
//                                                  [](int s, int d, int64_t b) {
//                                                    return ProbePeerToPeer(s, d, b);
//                                                  });
//
// Thread safety: as thread-safe as the callables it is given.

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "kernels/internal/validate.h"
#include "kernels/probe.h"

namespace gpusched::kernels::internal {

// `count()` returns absl::StatusOr<int>; `peer(src, dst, bytes)` returns
// absl::StatusOr<P2PResult>. Validates `bytes` before calling either.
template <typename CountFn, typename PeerFn>
absl::StatusOr<PeerMatrix> BuildPeerMatrix(int64_t bytes, CountFn count, PeerFn peer) {
  if (absl::Status s = ValidateBytes(bytes); !s.ok()) return s;
  absl::StatusOr<int> n = count();
  if (!n.ok()) return n.status();
  PeerMatrix matrix(static_cast<size_t>(*n), std::vector<P2PResult>(static_cast<size_t>(*n)));
  for (int src = 0; src < *n; ++src) {
    for (int dst = 0; dst < *n; ++dst) {
      if (src == dst) continue;
      absl::StatusOr<P2PResult> pair = peer(src, dst, bytes);
      if (!pair.ok()) {
        return absl::Status(pair.status().code(), absl::StrFormat("peer %d -> %d: %s", src, dst,
                                                                  pair.status().message()));
      }
      matrix[static_cast<size_t>(src)][static_cast<size_t>(dst)] = *pair;
    }
  }
  return matrix;
}

}  // namespace gpusched::kernels::internal

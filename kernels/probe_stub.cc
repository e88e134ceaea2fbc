// probe.h for builds without CUDA (GPUSCHED_WITH_CUDA=OFF): no devices, and every probe answers
// Unavailable once its arguments pass the same checks the CUDA build makes.

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "kernels/internal/validate.h"
#include "kernels/probe.h"

namespace gpusched::kernels {
namespace {

absl::Status NoCuda(std::string_view probe) {
  return absl::UnavailableError(absl::StrFormat(
      "gpusched was built without CUDA: %s needs a build with -DGPUSCHED_WITH_CUDA=ON (the "
      "agent's --fake mode runs without a GPU)",
      probe));
}

}  // namespace

bool CudaCompiledIn() { return false; }

absl::StatusOr<int> DeviceCount() { return 0; }

absl::StatusOr<DeviceInfo> DescribeDevice(int index) {
  if (absl::Status s = internal::ValidateDeviceIndex("index", index); !s.ok()) return s;
  return NoCuda("DescribeDevice");
}

absl::StatusOr<OccupancyResult> ProbeOccupancy(int device, int block_size) {
  if (absl::Status s = internal::ValidateBlockSize(block_size); !s.ok()) return s;
  if (absl::Status s = internal::ValidateDeviceIndex("device", device); !s.ok()) return s;
  return NoCuda("ProbeOccupancy");
}

absl::StatusOr<BandwidthResult> ProbeBandwidth(int device, int64_t bytes) {
  if (absl::Status s = internal::ValidateBytes(bytes); !s.ok()) return s;
  if (absl::Status s = internal::ValidateDeviceIndex("device", device); !s.ok()) return s;
  return NoCuda("ProbeBandwidth");
}

absl::StatusOr<P2PResult> ProbePeerToPeer(int src, int dst, int64_t bytes) {
  if (absl::Status s = internal::ValidatePeerPair(src, dst); !s.ok()) return s;
  if (absl::Status s = internal::ValidateBytes(bytes); !s.ok()) return s;
  return NoCuda("ProbePeerToPeer");
}

absl::StatusOr<PeerMatrix> ProbePeerMatrix(int64_t bytes) {
  if (absl::Status s = internal::ValidateBytes(bytes); !s.ok()) return s;
  return NoCuda("ProbePeerMatrix");
}

absl::StatusOr<ThroughputResult> ProbeThroughput(int device, absl::Duration budget) {
  if (absl::Status s = internal::ValidateBudget(budget); !s.ok()) return s;
  if (absl::Status s = internal::ValidateDeviceIndex("device", device); !s.ok()) return s;
  return NoCuda("ProbeThroughput");
}

absl::Status RunSaxpyCheck(int device, int n) {
  if (absl::Status s = internal::ValidateSaxpyElements(n); !s.ok()) return s;
  if (absl::Status s = internal::ValidateDeviceIndex("device", device); !s.ok()) return s;
  return NoCuda("RunSaxpyCheck");
}

}  // namespace gpusched::kernels

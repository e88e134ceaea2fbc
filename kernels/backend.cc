// ProbeBackend's shared peer matrix, and the CUDA backend: the free functions of probe.h (which
// are the stubs of probe_stub.cc in a build without CUDA).

#include "kernels/backend.h"

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "kernels/internal/peer_matrix.h"
#include "kernels/probe.h"

namespace gpusched::kernels {
namespace {

class CudaBackend final : public ProbeBackend {
 public:
  std::string name() const override { return "cuda"; }
  absl::StatusOr<int> DeviceCount() override { return kernels::DeviceCount(); }
  absl::StatusOr<DeviceInfo> Describe(int device) override { return DescribeDevice(device); }
  absl::StatusOr<OccupancyResult> ProbeOccupancy(int device, int block_size) override {
    return kernels::ProbeOccupancy(device, block_size);
  }
  absl::StatusOr<ThroughputResult> ProbeThroughput(int device, absl::Duration budget) override {
    return kernels::ProbeThroughput(device, budget);
  }
  absl::StatusOr<BandwidthResult> ProbeBandwidth(int device, int64_t bytes) override {
    return kernels::ProbeBandwidth(device, bytes);
  }
  absl::StatusOr<P2PResult> ProbePeerToPeer(int src, int dst, int64_t bytes) override {
    return kernels::ProbePeerToPeer(src, dst, bytes);
  }
  absl::Status RunSaxpyCheck(int device, int n) override {
    return kernels::RunSaxpyCheck(device, n);
  }
  absl::StatusOr<PeerMatrix> ProbePeerMatrix(int64_t bytes) override {
    return kernels::ProbePeerMatrix(bytes);
  }
};

}  // namespace

absl::StatusOr<PeerMatrix> ProbeBackend::ProbePeerMatrix(int64_t bytes) {
  return internal::BuildPeerMatrix(
      bytes, [this] { return DeviceCount(); },
      [this](int src, int dst, int64_t b) { return ProbePeerToPeer(src, dst, b); });
}

std::unique_ptr<ProbeBackend> NewCudaBackend() { return std::make_unique<CudaBackend>(); }

}  // namespace gpusched::kernels

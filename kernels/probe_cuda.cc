// probe.h on top of the CUDA runtime, through the C-style bridge in internal/cuda_probe.h.
// Built only when GPUSCHED_WITH_CUDA is ON; probe_stub.cc replaces it otherwise.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "kernels/internal/cuda_probe.h"
#include "kernels/internal/first_wave.h"
#include "kernels/internal/peer_matrix.h"
#include "kernels/internal/validate.h"
#include "kernels/probe.h"

namespace gpusched::kernels {
namespace {

// Timed repetitions per bandwidth measurement; the median is reported.
constexpr int kRepetitions = 5;
// Timed 4-byte copies per peer latency measurement; the median is reported.
constexpr int kLatencyRepetitions = 25;
// cudaErrorMemoryAllocation.
constexpr int kCudaErrorMemoryAllocation = 2;

absl::Status CudaError(const internal::CallResult& r) {
  const std::string message =
      absl::StrFormat("%s failed: %s (%d): %s", r.call, internal::ErrorName(r.code), r.code,
                      internal::ErrorString(r.code));
  if (r.code == kCudaErrorMemoryAllocation) return absl::ResourceExhaustedError(message);
  return absl::InternalError(message);
}

// True for the cudaGetDeviceCount errors that mean "this node has no usable GPU": no device,
// no driver (or one too old for this runtime), or the driver stub library of a build image.
bool MeansNoGpu(int code) {
  return code == internal::kCudaErrorNoDevice || code == internal::kCudaErrorInsufficientDriver ||
         code == internal::kCudaErrorStubLibrary;
}

absl::Status CheckDevice(std::string_view field, int device) {
  if (absl::Status s = internal::ValidateDeviceIndex(field, device); !s.ok()) return s;
  absl::StatusOr<int> count = DeviceCount();
  if (!count.ok()) return count.status();
  return internal::ValidateDeviceInRange(field, device, *count, "CUDA");
}

}  // namespace

bool CudaCompiledIn() { return true; }

absl::StatusOr<int> DeviceCount() {
  int count = 0;
  const internal::CallResult r = internal::GetDeviceCount(&count);
  if (!r.ok()) {
    if (MeansNoGpu(r.code)) return 0;
    return CudaError(r);
  }
  return count;
}

absl::StatusOr<DeviceInfo> DescribeDevice(int index) {
  if (absl::Status s = CheckDevice("index", index); !s.ok()) return s;
  internal::RawDeviceInfo raw;
  if (internal::CallResult r = internal::GetDeviceInfo(index, &raw); !r.ok()) {
    return CudaError(r);
  }
  DeviceInfo info;
  info.index = index;
  info.name = raw.name;
  info.compute_major = raw.compute_major;
  info.compute_minor = raw.compute_minor;
  info.sm_count = raw.sm_count;
  info.memory_bytes = raw.memory_bytes;
  info.max_threads_per_sm = raw.max_threads_per_sm;
  info.pci_bus_id = raw.pci_bus_id;
  return info;
}

absl::StatusOr<OccupancyResult> ProbeOccupancy(int device, int block_size) {
  if (absl::Status s = internal::ValidateBlockSize(block_size); !s.ok()) return s;
  if (absl::Status s = CheckDevice("device", device); !s.ok()) return s;
  int active_blocks = 0;
  int max_threads_per_sm = 0;
  int warp_size = 0;
  if (internal::CallResult r = internal::SaxpyOccupancy(device, block_size, &active_blocks,
                                                        &max_threads_per_sm, &warp_size);
      !r.ok()) {
    return CudaError(r);
  }
  if (warp_size <= 0 || max_threads_per_sm < warp_size) {
    return absl::InternalError(
        absl::StrFormat("device %d reports warp size %d and %d max threads per SM", device,
                        warp_size, max_threads_per_sm));
  }
  OccupancyResult result;
  result.block_size = block_size;
  result.active_blocks_per_sm = active_blocks;
  result.max_warps_per_sm = max_threads_per_sm / warp_size;
  const int warps_per_block = (block_size + warp_size - 1) / warp_size;
  result.occupancy = static_cast<double>(active_blocks) * warps_per_block /
                     static_cast<double>(result.max_warps_per_sm);
  return result;
}

absl::StatusOr<BandwidthResult> ProbeBandwidth(int device, int64_t bytes) {
  if (absl::Status s = internal::ValidateBytes(bytes); !s.ok()) return s;
  if (absl::Status s = CheckDevice("device", device); !s.ok()) return s;
  BandwidthResult result;
  result.bytes = bytes;
  if (internal::CallResult r = internal::MeasureCopyBandwidth(
          device, bytes, kRepetitions, &result.host_to_device_gbps, &result.device_to_host_gbps,
          &result.device_to_device_gbps);
      !r.ok()) {
    return CudaError(r);
  }
  return result;
}

absl::StatusOr<P2PResult> ProbePeerToPeer(int src, int dst, int64_t bytes) {
  if (absl::Status s = internal::ValidatePeerPair(src, dst); !s.ok()) return s;
  if (absl::Status s = internal::ValidateBytes(bytes); !s.ok()) return s;
  if (absl::Status s = CheckDevice("src", src); !s.ok()) return s;
  if (absl::Status s = CheckDevice("dst", dst); !s.ok()) return s;
  P2PResult result;
  if (internal::CallResult r = internal::CanAccessPeer(src, dst, &result.access_supported);
      !r.ok()) {
    return CudaError(r);
  }
  if (!result.access_supported) return result;
  if (internal::CallResult r = internal::MeasurePeerCopies(
          src, dst, bytes, kRepetitions, kLatencyRepetitions, &result.gbps, &result.latency_us);
      !r.ok()) {
    return CudaError(r);
  }
  return result;
}

absl::StatusOr<PeerMatrix> ProbePeerMatrix(int64_t bytes) {
  return internal::BuildPeerMatrix(
      bytes, [] { return DeviceCount(); },
      [](int src, int dst, int64_t b) { return ProbePeerToPeer(src, dst, b); });
}

absl::StatusOr<ThroughputResult> ProbeThroughput(int device, absl::Duration budget) {
  if (absl::Status s = internal::ValidateBudget(budget); !s.ok()) return s;
  if (absl::Status s = CheckDevice("device", device); !s.ok()) return s;
  internal::RawThroughput raw;
  if (internal::CallResult r =
          internal::MeasureThroughput(device, absl::ToInt64Nanoseconds(budget), &raw);
      !r.ok()) {
    return CudaError(r);
  }
  const internal::FirstWave wave = internal::SummarizeFirstWave(raw.blocks);
  ThroughputResult result;
  result.sm_count = raw.sm_count;
  result.sms_reached = std::min(wave.sms_reached, raw.sm_count);
  result.available_sm_fraction =
      raw.sm_count > 0 ? static_cast<double>(result.sms_reached) / raw.sm_count : 0.0;
  // Events resolve about 0.5 us; never divide by zero.
  result.gflops = raw.flops / (std::max(raw.elapsed_ms, 1e-4) * 1e-3) / 1e9;
  result.duration_us = std::llround(raw.elapsed_ms * 1e3);
  result.blocks_per_sm = raw.blocks_per_sm;
  result.held_us = std::llround(raw.held_ms * 1e3);
  return result;
}

absl::Status RunSaxpyCheck(int device, int n) {
  if (absl::Status s = internal::ValidateSaxpyElements(n); !s.ok()) return s;
  if (absl::Status s = CheckDevice("device", device); !s.ok()) return s;
  int64_t mismatch = -1;
  float got = 0;
  float want = 0;
  if (internal::CallResult r = internal::RunSaxpy(device, n, &mismatch, &got, &want); !r.ok()) {
    return CudaError(r);
  }
  if (mismatch >= 0) {
    return absl::InternalError(
        absl::StrFormat("SAXPY result on device %d differs from the host at index %d of %d: "
                        "got %g, want %g",
                        device, mismatch, n, got, want));
  }
  return absl::OkStatus();
}

}  // namespace gpusched::kernels

#pragma once

// GPU probes for the node agent: how many CUDA devices a node has, what they are, and what they
// measure (occupancy of a real kernel, copy bandwidth, peer-to-peer bandwidth), plus a SAXPY run
// whose result is checked on the host to prove compiled kernels actually execute.
//
//   ASSIGN_OR_RETURN(int count, gpusched::kernels::DeviceCount());   // 0 on a GPU-less node
//   for (int d = 0; d < count; ++d) {
//     ASSIGN_OR_RETURN(DeviceInfo info, DescribeDevice(d));          // "NVIDIA H100 80GB HBM3"
//     RETURN_IF_ERROR(RunSaxpyCheck(d, 1 << 20));
//     ASSIGN_OR_RETURN(OccupancyResult occ, ProbeOccupancy(d, /*block_size=*/256));
//     ASSIGN_OR_RETURN(BandwidthResult bw, ProbeBandwidth(d, /*bytes=*/int64_t{64} << 20));
//   }
//   ASSIGN_OR_RETURN(P2PResult p2p, ProbePeerToPeer(0, 1, int64_t{64} << 20));  // count >= 2
//
// (ASSIGN_OR_RETURN / RETURN_IF_ERROR are in common/status_macros.h.)
//
// Errors:
//   - Bad arguments (block_size 33, bytes 0, a negative or out-of-range device, src == dst) give
//     InvalidArgument naming the argument, in every build and before any CUDA call.
//   - A CUDA failure gives Internal (or ResourceExhausted for an out-of-memory error) with the
//     failing call, the CUDA error name and its description.
//   - A build without CUDA (GPUSCHED_WITH_CUDA=OFF) reports DeviceCount() == 0, and every probe
//     returns Unavailable("gpusched was built without CUDA: ...") once its arguments are valid.
//
// The header carries no CUDA types; it works the same whether or not CUDA is compiled in.
//
// Thread safety: all functions may be called from several threads. A probe makes its device
// current on the calling thread and restores the previous current device before returning.
// Probes running at once on one device disturb each other's timings, so measure one at a time.

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace gpusched::kernels {

// Largest transfer ProbeBandwidth / ProbePeerToPeer accept: 4 GiB.
inline constexpr int64_t kMaxProbeBytes = int64_t{4} << 30;
// Largest element count RunSaxpyCheck accepts (2 x 1 GiB of floats on the device).
inline constexpr int kMaxSaxpyElements = 1 << 28;

// True when this binary was built with GPUSCHED_WITH_CUDA=ON (the probes call the CUDA runtime).
bool CudaCompiledIn();

// The number of usable CUDA devices. 0, not an error, when the node has no GPU or no usable
// driver (cudaGetDeviceCount reports cudaErrorNoDevice, cudaErrorInsufficientDriver or
// cudaErrorStubLibrary) and when CUDA is not compiled in. Any other CUDA error is returned as a
// status naming it.
absl::StatusOr<int> DeviceCount();

// Static facts about one device, from cudaGetDeviceProperties.
struct DeviceInfo {
  int index = 0;
  std::string name;          // "NVIDIA H100 80GB HBM3"
  int compute_major = 0;     // 9 for sm_90
  int compute_minor = 0;     // 0 for sm_90
  int sm_count = 0;          // streaming multiprocessors
  int64_t memory_bytes = 0;  // total global memory
  int max_threads_per_sm = 0;
  std::string pci_bus_id;  // "0000:3b:00.0", as NVML and nvidia-smi print it
};

// Describes device `index` (0-based, as CUDA enumerates devices; CUDA_VISIBLE_DEVICES applies).
absl::StatusOr<DeviceInfo> DescribeDevice(int index);

// Theoretical occupancy of the SAXPY probe kernel at one block size.
struct OccupancyResult {
  int block_size = 0;
  int active_blocks_per_sm = 0;  // resident blocks per SM
  int max_warps_per_sm = 0;      // max resident threads per SM / warp size
  double occupancy = 0;          // active warps / max warps, in [0, 1]
};

// Occupancy from cudaOccupancyMaxActiveBlocksPerMultiprocessor on the probe kernel (no dynamic
// shared memory). `block_size` must be in [1, 1024] and a multiple of 32.
absl::StatusOr<OccupancyResult> ProbeOccupancy(int device, int block_size);

// Median copy throughput over a few timed repetitions, in GB/s (1e9 bytes per second). Host
// buffers are pinned; each byte copied counts once, also device to device (CUDA's bandwidthTest
// sample counts it twice there, for the read and the write).
struct BandwidthResult {
  double host_to_device_gbps = 0;
  double device_to_host_gbps = 0;
  double device_to_device_gbps = 0;
  int64_t bytes = 0;  // per copy
};

// Measures copies of `bytes` (in (0, kMaxProbeBytes]) between pinned host memory and `device`,
// and within `device`. Needs `bytes` of pinned host memory and twice `bytes` on the device.
absl::StatusOr<BandwidthResult> ProbeBandwidth(int device, int64_t bytes);

// Direct peer-to-peer copy support and throughput between two devices.
struct P2PResult {
  bool access_supported = false;  // cudaDeviceCanAccessPeer(src -> dst)
  double gbps = 0;                // median cudaMemcpyPeer throughput; 0 when unsupported
};

// Checks peer access from `src` to `dst` and, where supported, times copies of `bytes` (in
// (0, kMaxProbeBytes]) from `src` to `dst` with peer access enabled (and disabled again
// afterwards if it was off). `src` and `dst` must be distinct valid devices.
absl::StatusOr<P2PResult> ProbePeerToPeer(int src, int dst, int64_t bytes);

// Runs y = 2 * x + y over `n` floats (n in [1, kMaxSaxpyElements]) with the SAXPY probe kernel on
// `device` and compares every element with the host result. Internal naming the first
// mismatching index when they differ.
absl::Status RunSaxpyCheck(int device, int n);

}  // namespace gpusched::kernels

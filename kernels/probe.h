#pragma once

// GPU probes for the node agent: how many CUDA devices a node has, what they are, and what they
// measure (occupancy of a real kernel, compute throughput and the SMs a burst reaches, copy
// bandwidth, peer-to-peer bandwidth and latency), plus a SAXPY run whose result is checked on the
// host to prove compiled kernels actually execute.
//
//   ASSIGN_OR_RETURN(int count, gpusched::kernels::DeviceCount());   // 0 on a GPU-less node
//   for (int d = 0; d < count; ++d) {
//     ASSIGN_OR_RETURN(DeviceInfo info, DescribeDevice(d));          // "NVIDIA H100 80GB HBM3"
//     RETURN_IF_ERROR(RunSaxpyCheck(d, 1 << 20));
//     ASSIGN_OR_RETURN(OccupancyResult occ, ProbeOccupancy(d, /*block_size=*/256));
//     ASSIGN_OR_RETURN(BandwidthResult bw, ProbeBandwidth(d, /*bytes=*/int64_t{64} << 20));
//   }
//   ASSIGN_OR_RETURN(ThroughputResult t, ProbeThroughput(0, absl::Milliseconds(2)));
//   ASSIGN_OR_RETURN(P2PResult p2p, ProbePeerToPeer(0, 1, int64_t{64} << 20));  // count >= 2
//   ASSIGN_OR_RETURN(PeerMatrix m, ProbePeerMatrix(int64_t{64} << 20));        // every pair
//
// (ASSIGN_OR_RETURN / RETURN_IF_ERROR are in common/status_macros.h.)
//
// The same calls behind an interface, with a deterministic CPU fake for GPU-less nodes and tests,
// are in kernels/backend.h; kernels/interference.h turns successive ProbeThroughput results into
// a headroom / interference estimate.
//
// Errors:
//   - Bad arguments (block_size 33, bytes 0, a budget outside (0, 1 s], a negative or
//     out-of-range device, src == dst) give InvalidArgument naming the argument, in every build
//     and before any CUDA call.
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
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gpusched::kernels {

// Largest transfer ProbeBandwidth / ProbePeerToPeer accept: 4 GiB.
inline constexpr int64_t kMaxProbeBytes = int64_t{4} << 30;
// Largest element count RunSaxpyCheck accepts (2 x 1 GiB of floats on the device).
inline constexpr int kMaxSaxpyElements = 1 << 28;
// Longest budget ProbeThroughput accepts.
inline constexpr absl::Duration kMaxThroughputBudget = absl::Seconds(1);

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

// Direct peer-to-peer copy support, throughput and latency between two devices.
struct P2PResult {
  bool access_supported = false;  // cudaDeviceCanAccessPeer(src -> dst)
  double gbps = 0;                // median cudaMemcpyPeer throughput; 0 when unsupported
  double latency_us = 0;          // median time of one 4-byte peer copy; 0 when unsupported
};

// Checks peer access from `src` to `dst` and, where supported, times copies of `bytes` (in
// (0, kMaxProbeBytes]) from `src` to `dst` with peer access enabled (and disabled again
// afterwards if it was off), then the latency of 4-byte copies (median of 25 after a warm-up;
// CUDA events resolve about 0.5 us). `src` and `dst` must be distinct valid devices.
absl::StatusOr<P2PResult> ProbePeerToPeer(int src, int dst, int64_t bytes);

// result[src][dst] for every ordered pair of devices; the diagonal holds default P2PResults
// (access_supported false, zeros). Empty on a node with no device (in the CUDA build; without
// CUDA, ProbePeerMatrix is Unavailable like every probe).
using PeerMatrix = std::vector<std::vector<P2PResult>>;

// ProbePeerToPeer(src, dst, bytes) for every ordered pair src != dst of the DeviceCount()
// devices, one pair at a time (n * (n - 1) probes). `bytes` is checked first; a failing pair
// returns its error, prefixed with "peer src -> dst: ".
absl::StatusOr<PeerMatrix> ProbePeerMatrix(int64_t bytes);

// How much of the GPU a short compute burst gets right now.
struct ThroughputResult {
  int sm_count = 0;                  // SMs of the device
  int sms_reached = 0;               // distinct SMs that ran a block of the first wave
  double available_sm_fraction = 0;  // sms_reached / sm_count, in [0, 1]
  double gflops = 0;                 // achieved FP32 GFLOP/s (an FMA counts 2 flops)
  int64_t duration_us = 0;           // the measured launch, timed with CUDA events
  int blocks_per_sm = 0;             // resident blocks per SM (occupancy API) in the launch
  int64_t held_us = 0;               // calibration and measured launches together
};

// Runs the persistent FMA probe kernel on `device` for about `budget` (e.g. 2 ms; in
// (0, kMaxThroughputBudget]): sm_count * blocks_per_sm blocks of 256 threads, so that on an idle
// GPU every block is resident at once. Each block records the SM it ran on (%smid) and its start
// and end (%globaltimer). A block that could not start with the first wave (its SM was busy with
// other work) starts only once a block before it ends, so the SMs reached are those of the blocks
// that started within half the median block time of the first start: fewer than sm_count when
// other work holds SMs (MPS, green contexts, concurrent kernels of this process). Time slicing
// with another context shows in gflops instead.
//
// Work amount: a one-iteration warm-up launch (untimed; it loads the module), then calibration
// launches of growing length (4x each, from 64 iterations) until one takes at least budget / 16;
// the measured launch is scaled from it to take about `budget` under the present load. If a
// calibration launch already took half the budget, it is the measurement. The GPU is held for
// about 1.1-1.3 x budget in all (held_us), never more than about 2 x budget (a GPU so busy that
// the shortest calibration launch takes longer than that is the exception). Budgets under
// ~100 us give coarse results (launch overhead, a 1 us timer).
absl::StatusOr<ThroughputResult> ProbeThroughput(int device, absl::Duration budget);

// Runs y = 2 * x + y over `n` floats (n in [1, kMaxSaxpyElements]) with the SAXPY probe kernel on
// `device` and compares every element with the host result. Internal naming the first
// mismatching index when they differ.
absl::Status RunSaxpyCheck(int device, int n);

}  // namespace gpusched::kernels

#pragma once

// Private C-style bridge between the nvcc-compiled probe kernels (probe_kernels.cu) and the
// g++-compiled host API (probe_cuda.cc). Not for use outside kernels/; callers use probe.h.
//
// The bridge carries no CUDA types and no absl types (standard containers are fine), so that
// probe_kernels.cu includes no absl headers and probe_cuda.cc includes no CUDA headers. Every
// function returns a CallResult: the cudaError_t of the first CUDA call that failed, as a plain
// int, and that call's name:
//
//   int count = 0;
//   CallResult r = GetDeviceCount(&count);
//   if (!r.ok()) {
//     printf("%s failed: %s (%d): %s\n", r.call, ErrorName(r.code), r.code, ErrorString(r.code));
//   }
//
// Functions that take a device index make it the calling thread's current device while they run
// and restore the previous current device before returning. Arguments are validated by the
// caller (probe_cuda.cc); these functions only guard against null pointers.

#include <cstdint>
#include <vector>

#include "kernels/internal/first_wave.h"

namespace gpusched::kernels::internal {

// cudaError_t values the host API treats specially. probe_kernels.cu static_asserts that they
// match the CUDA headers.
inline constexpr int kCudaSuccess = 0;
inline constexpr int kCudaErrorInvalidValue = 1;
inline constexpr int kCudaErrorStubLibrary = 34;
inline constexpr int kCudaErrorInsufficientDriver = 35;
inline constexpr int kCudaErrorNoDevice = 100;
inline constexpr int kCudaErrorInvalidDevice = 101;

// The outcome of one bridge call. `call` is a string literal naming the CUDA API call (or the
// check) that failed, "" on success.
struct CallResult {
  int code = kCudaSuccess;
  const char* call = "";

  bool ok() const { return code == kCudaSuccess; }
};

// cudaGetErrorName / cudaGetErrorString for `code`; never null.
const char* ErrorName(int code);
const char* ErrorString(int code);

// cudaGetDeviceCount.
CallResult GetDeviceCount(int* count);

struct RawDeviceInfo {
  char name[256] = {};
  int compute_major = 0;
  int compute_minor = 0;
  int sm_count = 0;
  int64_t memory_bytes = 0;
  int max_threads_per_sm = 0;
  int max_threads_per_block = 0;
  int warp_size = 0;
  char pci_bus_id[32] = {};  // "0000:3b:00.0"
};

// cudaGetDeviceProperties + cudaDeviceGetPCIBusId.
CallResult GetDeviceInfo(int device, RawDeviceInfo* out);

// cudaOccupancyMaxActiveBlocksPerMultiprocessor for the SAXPY probe kernel (the kernel RunSaxpy
// launches) with `block_size` threads and no dynamic shared memory. Also reports the device's
// maximum resident threads per SM and its warp size.
CallResult SaxpyOccupancy(int device, int block_size, int* active_blocks_per_sm,
                          int* max_threads_per_sm, int* warp_size);

// Copies `bytes` host->device (from pinned memory), device->host (to pinned memory) and
// device->device `repetitions` times each after one warm-up copy, timing each copy with CUDA
// events. Writes the median throughput of each direction in GB/s (1e9 bytes per second, counting
// each byte copied once).
CallResult MeasureCopyBandwidth(int device, int64_t bytes, int repetitions, double* h2d_gbps,
                                double* d2h_gbps, double* d2d_gbps);

// cudaDeviceCanAccessPeer(src -> dst).
CallResult CanAccessPeer(int src, int dst, bool* supported);

// Enables peer access src -> dst (disabling it again afterwards if it was off), then times
// `repetitions` cudaMemcpyPeerAsync copies of `bytes` from a buffer on `src` to one on `dst`
// after a warm-up copy, and `latency_repetitions` copies of 4 bytes after another warm-up.
// Writes the median throughput in GB/s and the median 4-byte copy time in microseconds.
CallResult MeasurePeerCopies(int src, int dst, int64_t bytes, int repetitions,
                             int latency_repetitions, double* gbps, double* latency_us);

// Threads per block of the throughput probe kernel.
inline constexpr int kThroughputBlockSize = 256;
// Independent FMA chains per thread per loop iteration (so one iteration is 2 * 8 flops).
inline constexpr int kThroughputFmaChains = 8;

// What MeasureThroughput saw.
struct RawThroughput {
  int sm_count = 0;
  int blocks_per_sm = 0;            // cudaOccupancyMaxActiveBlocksPerMultiprocessor, >= 1
  int64_t iterations = 0;           // loop iterations per thread in the measured launch
  int launches = 0;                 // all launches, warm-up and calibration included
  double flops = 0;                 // floating-point operations of the measured launch
  double elapsed_ms = 0;            // the measured launch (CUDA events)
  double held_ms = 0;               // calibration and measured launches (CUDA events)
  std::vector<BlockRecord> blocks;  // the measured launch's blocks, in block index order
};

// The throughput probe on `device` (see ProbeThroughput in probe.h): a warm-up launch, then
// calibration launches growing 4x until one takes budget_ns / 16 (or half the budget, in which
// case it is the measurement), then the measured launch scaled to take about budget_ns. Each
// launch runs sm_count * blocks_per_sm blocks of kThroughputBlockSize threads.
CallResult MeasureThroughput(int device, int64_t budget_ns, RawThroughput* out);

// Fills x and y on the host with small integers and halves, runs y = 2 * x + y on `device` over
// `n` floats with the SAXPY probe kernel, copies y back and compares it exactly with the host
// result (every value involved is exactly representable, so no tolerance is needed). Sets
// *mismatch_index to the first differing index (-1 when all match) and *got / *want to the
// observed and expected values there.
CallResult RunSaxpy(int device, int n, int64_t* mismatch_index, float* got, float* want);

}  // namespace gpusched::kernels::internal

#pragma once

// Private C-style bridge between the nvcc-compiled probe kernels (probe_kernels.cu) and the
// g++-compiled host API (probe_cuda.cc). Not for use outside kernels/; callers use probe.h.
//
// The bridge carries no CUDA types and no absl types, so that probe_kernels.cu includes no absl
// headers and probe_cuda.cc includes no CUDA headers. Every function returns a CallResult: the
// cudaError_t of the first CUDA call that failed, as a plain int, and that call's name:
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
// after a warm-up copy. Writes the median throughput in GB/s.
CallResult MeasurePeerBandwidth(int src, int dst, int64_t bytes, int repetitions, double* gbps);

// Fills x and y on the host with small integers and halves, runs y = 2 * x + y on `device` over
// `n` floats with the SAXPY probe kernel, copies y back and compares it exactly with the host
// result (every value involved is exactly representable, so no tolerance is needed). Sets
// *mismatch_index to the first differing index (-1 when all match) and *got / *want to the
// observed and expected values there.
CallResult RunSaxpy(int device, int n, int64_t* mismatch_index, float* got, float* want);

}  // namespace gpusched::kernels::internal

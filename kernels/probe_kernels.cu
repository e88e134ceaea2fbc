// The CUDA side of the probes: the SAXPY probe kernel and the runtime calls behind
// internal/cuda_probe.h. Compiled by nvcc only when GPUSCHED_WITH_CUDA is ON. Deliberately free
// of absl headers (see internal/cuda_probe.h); probe_cuda.cc turns the results into
// absl::Status.

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "kernels/internal/cuda_probe.h"

namespace gpusched::kernels::internal {

static_assert(kCudaSuccess == static_cast<int>(cudaSuccess));
static_assert(kCudaErrorInvalidValue == static_cast<int>(cudaErrorInvalidValue));
static_assert(kCudaErrorStubLibrary == static_cast<int>(cudaErrorStubLibrary));
static_assert(kCudaErrorInsufficientDriver == static_cast<int>(cudaErrorInsufficientDriver));
static_assert(kCudaErrorNoDevice == static_cast<int>(cudaErrorNoDevice));
static_assert(kCudaErrorInvalidDevice == static_cast<int>(cudaErrorInvalidDevice));

namespace {

constexpr int kSaxpyBlockSize = 256;
constexpr float kSaxpyA = 2.0f;

// y[i] = a * x[i] + y[i] over a grid-stride loop, so any grid size covers any n.
__global__ void SaxpyKernel(int64_t n, float a, const float* __restrict__ x,
                            float* __restrict__ y) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    y[i] = a * x[i] + y[i];
  }
}

// %smid: the SM this thread runs on (ids need not be contiguous; only distinctness is used).
__device__ __forceinline__ uint32_t SmId() {
  uint32_t id;
  asm volatile("mov.u32 %0, %%smid;" : "=r"(id));
  return id;
}

// %globaltimer: a nanosecond clock shared by all SMs (it ticks about every microsecond).
__device__ __forceinline__ unsigned long long GlobalTimerNs() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

// The persistent throughput probe: every thread runs `iterations` rounds of
// kThroughputFmaChains independent FMA chains (x = x * multiplier + addend, which converges to
// addend / (1 - multiplier) and never overflows or goes subnormal). Thread 0 of each block
// records the block's SM and its start time, and its end time once every thread is done. The
// sum is stored only if it equals -1, which the host's constants never produce, so the compiler
// must keep every FMA but the kernel writes nothing.
__global__ void __launch_bounds__(kThroughputBlockSize)
    ThroughputKernel(int64_t iterations, float multiplier, float addend, float* __restrict__ sink,
                     uint32_t* __restrict__ block_sm,
                     unsigned long long* __restrict__ block_start_ns,
                     unsigned long long* __restrict__ block_end_ns) {
  if (threadIdx.x == 0) {
    block_start_ns[blockIdx.x] = GlobalTimerNs();
    block_sm[blockIdx.x] = SmId();
  }
  float acc[kThroughputFmaChains];
#pragma unroll
  for (int c = 0; c < kThroughputFmaChains; ++c) {
    acc[c] = static_cast<float>(threadIdx.x % 64 + c) * (1.0f / 64.0f);
  }
#pragma unroll 4
  for (int64_t i = 0; i < iterations; ++i) {
#pragma unroll
    for (int c = 0; c < kThroughputFmaChains; ++c) acc[c] = fmaf(acc[c], multiplier, addend);
  }
  float sum = 0.0f;
#pragma unroll
  for (int c = 0; c < kThroughputFmaChains; ++c) sum += acc[c];
  if (sum == -1.0f) sink[0] = sum;
  __syncthreads();
  if (threadIdx.x == 0) block_end_ns[blockIdx.x] = GlobalTimerNs();
}

// Constants for ThroughputKernel: every accumulator stays in [0, 2].
constexpr float kThroughputMultiplier = 0.999f;
constexpr float kThroughputAddend = 0.001f;
// Calibration starts at this many iterations and grows 4x per launch.
constexpr int64_t kCalibrationStartIterations = 64;
// Upper bound on iterations per thread (about 100 s on a T4: only reached by a broken timer).
constexpr int64_t kMaxThroughputIterations = int64_t{1} << 30;
// A measured launch runs at most this many times the iterations of the last calibration launch
// (which took at least 1/16 of the budget), whatever the timings say.
constexpr int64_t kMaxCalibrationScale = 32;
// 4-byte copies for peer latency.
constexpr size_t kLatencyBytes = 4;

CallResult Fail(cudaError_t err, const char* call) { return {static_cast<int>(err), call}; }

// Returns from the enclosing function with a CallResult naming `call` when `expr` fails.
#define GPUSCHED_CUDA_TRY(call, expr)         \
  do {                                        \
    const cudaError_t gpusched_err_ = (expr); \
    if (gpusched_err_ != cudaSuccess) {       \
      return Fail(gpusched_err_, call);       \
    }                                         \
  } while (0)

// Makes `device` current for the guard's lifetime, then restores the previous current device.
class ScopedDevice {
 public:
  ScopedDevice() = default;
  ScopedDevice(const ScopedDevice&) = delete;
  ScopedDevice& operator=(const ScopedDevice&) = delete;
  ~ScopedDevice() {
    if (restore_) cudaSetDevice(previous_);
  }

  CallResult Enter(int device) {
    GPUSCHED_CUDA_TRY("cudaGetDevice", cudaGetDevice(&previous_));
    GPUSCHED_CUDA_TRY("cudaSetDevice", cudaSetDevice(device));
    restore_ = true;
    return {};
  }

 private:
  int previous_ = 0;
  bool restore_ = false;
};

// Device memory from cudaMalloc on the device current at Allocate time.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
    if (ptr_ != nullptr) cudaFree(ptr_);
  }

  CallResult Allocate(size_t bytes) {
    GPUSCHED_CUDA_TRY("cudaMalloc", cudaMalloc(&ptr_, bytes));
    return {};
  }
  void* get() const { return ptr_; }

 private:
  void* ptr_ = nullptr;
};

// Page-locked host memory, so that copies run asynchronously at full link speed.
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  ~PinnedBuffer() {
    if (ptr_ != nullptr) cudaFreeHost(ptr_);
  }

  CallResult Allocate(size_t bytes) {
    GPUSCHED_CUDA_TRY("cudaMallocHost", cudaMallocHost(&ptr_, bytes));
    return {};
  }
  void* get() const { return ptr_; }

 private:
  void* ptr_ = nullptr;
};

// A stream plus a start/stop event pair on the current device, for timing copies and launches.
class Timer {
 public:
  Timer() = default;
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  ~Timer() {
    if (stop_ != nullptr) cudaEventDestroy(stop_);
    if (start_ != nullptr) cudaEventDestroy(start_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  CallResult Create() {
    GPUSCHED_CUDA_TRY("cudaStreamCreateWithFlags",
                      cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    GPUSCHED_CUDA_TRY("cudaEventCreate", cudaEventCreate(&start_));
    GPUSCHED_CUDA_TRY("cudaEventCreate", cudaEventCreate(&stop_));
    return {};
  }

  cudaStream_t stream() const { return stream_; }

  // Runs `work(stream)` once between the two events and waits for it; writes the elapsed time.
  // `work` returns the cudaError_t of its enqueueing (for a kernel: cudaGetLastError()).
  template <typename WorkFn>
  CallResult TimeOnce(const char* call, WorkFn work, double* ms) {
    GPUSCHED_CUDA_TRY("cudaEventRecord", cudaEventRecord(start_, stream_));
    GPUSCHED_CUDA_TRY(call, work(stream_));
    GPUSCHED_CUDA_TRY("cudaEventRecord", cudaEventRecord(stop_, stream_));
    GPUSCHED_CUDA_TRY("cudaEventSynchronize", cudaEventSynchronize(stop_));
    float elapsed = 0;
    GPUSCHED_CUDA_TRY("cudaEventElapsedTime", cudaEventElapsedTime(&elapsed, start_, stop_));
    *ms = static_cast<double>(elapsed);
    return {};
  }

  // Runs `work(stream)` once untimed, then `repetitions` times timed; writes the median time.
  // Events resolve about half a microsecond: the result is at least 1e-4 ms, never zero.
  template <typename WorkFn>
  CallResult MedianMillis(int repetitions, const char* call, WorkFn work, double* median_ms) {
    GPUSCHED_CUDA_TRY(call, work(stream_));
    GPUSCHED_CUDA_TRY("cudaStreamSynchronize", cudaStreamSynchronize(stream_));
    std::vector<double> millis;
    millis.reserve(static_cast<size_t>(std::max(repetitions, 1)));
    for (int rep = 0; rep < std::max(repetitions, 1); ++rep) {
      double ms = 0;
      if (CallResult r = TimeOnce(call, work, &ms); !r.ok()) return r;
      millis.push_back(ms);
    }
    std::sort(millis.begin(), millis.end());
    *median_ms = std::max(millis[millis.size() / 2], 1e-4);
    return {};
  }

  // MedianMillis, as the throughput of `bytes` per run in GB/s.
  template <typename CopyFn>
  CallResult MedianGbps(int64_t bytes, int repetitions, const char* call, CopyFn copy,
                        double* gbps) {
    double median_ms = 0;
    if (CallResult r = MedianMillis(repetitions, call, copy, &median_ms); !r.ok()) return r;
    *gbps = static_cast<double>(bytes) / (median_ms * 1e-3) / 1e9;
    return {};
  }

 private:
  cudaStream_t stream_ = nullptr;
  cudaEvent_t start_ = nullptr;
  cudaEvent_t stop_ = nullptr;
};

// Enables peer access from the current device, remembering what to disable again at scope exit
// so that probing leaves the process's peer mappings as it found them.
class PeerAccessGuard {
 public:
  PeerAccessGuard() = default;
  PeerAccessGuard(const PeerAccessGuard&) = delete;
  PeerAccessGuard& operator=(const PeerAccessGuard&) = delete;
  ~PeerAccessGuard() {
    for (const auto& [device, peer] : enabled_) {
      if (cudaSetDevice(device) == cudaSuccess) cudaDeviceDisablePeerAccess(peer);
    }
  }

  // Enables access from `device` to `peer`; `device` is made current.
  CallResult Enable(int device, int peer) {
    GPUSCHED_CUDA_TRY("cudaSetDevice", cudaSetDevice(device));
    const cudaError_t err = cudaDeviceEnablePeerAccess(peer, 0);
    if (err == cudaErrorPeerAccessAlreadyEnabled) {
      cudaGetLastError();  // Clear it; someone else owns this mapping.
      return {};
    }
    GPUSCHED_CUDA_TRY("cudaDeviceEnablePeerAccess", err);
    enabled_.emplace_back(device, peer);
    return {};
  }

 private:
  std::vector<std::pair<int, int>> enabled_;
};

}  // namespace

const char* ErrorName(int code) {
  const char* name = cudaGetErrorName(static_cast<cudaError_t>(code));
  return name != nullptr ? name : "cudaErrorUnrecognized";
}

const char* ErrorString(int code) {
  const char* str = cudaGetErrorString(static_cast<cudaError_t>(code));
  return str != nullptr ? str : "unrecognized CUDA error code";
}

CallResult GetDeviceCount(int* count) {
  if (count == nullptr) return Fail(cudaErrorInvalidValue, "GetDeviceCount(null)");
  *count = 0;
  GPUSCHED_CUDA_TRY("cudaGetDeviceCount", cudaGetDeviceCount(count));
  return {};
}

CallResult GetDeviceInfo(int device, RawDeviceInfo* out) {
  if (out == nullptr) return Fail(cudaErrorInvalidValue, "GetDeviceInfo(null)");
  cudaDeviceProp prop;
  std::memset(&prop, 0, sizeof(prop));
  GPUSCHED_CUDA_TRY("cudaGetDeviceProperties", cudaGetDeviceProperties(&prop, device));
  *out = RawDeviceInfo{};
  static_assert(sizeof(out->name) >= sizeof(prop.name));
  std::memcpy(out->name, prop.name, sizeof(prop.name));
  out->name[sizeof(out->name) - 1] = '\0';
  out->compute_major = prop.major;
  out->compute_minor = prop.minor;
  out->sm_count = prop.multiProcessorCount;
  out->memory_bytes = static_cast<int64_t>(prop.totalGlobalMem);
  out->max_threads_per_sm = prop.maxThreadsPerMultiProcessor;
  out->max_threads_per_block = prop.maxThreadsPerBlock;
  out->warp_size = prop.warpSize;
  GPUSCHED_CUDA_TRY("cudaDeviceGetPCIBusId",
                    cudaDeviceGetPCIBusId(out->pci_bus_id, sizeof(out->pci_bus_id), device));
  out->pci_bus_id[sizeof(out->pci_bus_id) - 1] = '\0';
  return {};
}

CallResult SaxpyOccupancy(int device, int block_size, int* active_blocks_per_sm,
                          int* max_threads_per_sm, int* warp_size) {
  if (active_blocks_per_sm == nullptr || max_threads_per_sm == nullptr || warp_size == nullptr) {
    return Fail(cudaErrorInvalidValue, "SaxpyOccupancy(null)");
  }
  ScopedDevice scoped;
  if (CallResult r = scoped.Enter(device); !r.ok()) return r;
  GPUSCHED_CUDA_TRY(
      "cudaDeviceGetAttribute",
      cudaDeviceGetAttribute(max_threads_per_sm, cudaDevAttrMaxThreadsPerMultiProcessor, device));
  GPUSCHED_CUDA_TRY("cudaDeviceGetAttribute",
                    cudaDeviceGetAttribute(warp_size, cudaDevAttrWarpSize, device));
  GPUSCHED_CUDA_TRY("cudaOccupancyMaxActiveBlocksPerMultiprocessor",
                    cudaOccupancyMaxActiveBlocksPerMultiprocessor(
                        active_blocks_per_sm, SaxpyKernel, block_size, /*dynamicSMemSize=*/0));
  return {};
}

CallResult MeasureCopyBandwidth(int device, int64_t bytes, int repetitions, double* h2d_gbps,
                                double* d2h_gbps, double* d2d_gbps) {
  if (h2d_gbps == nullptr || d2h_gbps == nullptr || d2d_gbps == nullptr || bytes <= 0) {
    return Fail(cudaErrorInvalidValue, "MeasureCopyBandwidth(arguments)");
  }
  const size_t size = static_cast<size_t>(bytes);
  ScopedDevice scoped;
  if (CallResult r = scoped.Enter(device); !r.ok()) return r;
  PinnedBuffer host;
  DeviceBuffer dev_a;
  DeviceBuffer dev_b;
  Timer timer;
  if (CallResult r = host.Allocate(size); !r.ok()) return r;
  if (CallResult r = dev_a.Allocate(size); !r.ok()) return r;
  if (CallResult r = dev_b.Allocate(size); !r.ok()) return r;
  if (CallResult r = timer.Create(); !r.ok()) return r;
  // Touch every page so that the first timed copy does not pay for faulting them in.
  std::memset(host.get(), 0x5a, size);
  GPUSCHED_CUDA_TRY("cudaMemset", cudaMemset(dev_b.get(), 0, size));
  // The timer's stream is non-blocking: finish the memset before timing starts.
  GPUSCHED_CUDA_TRY("cudaDeviceSynchronize", cudaDeviceSynchronize());

  CallResult r = timer.MedianGbps(
      bytes, repetitions, "cudaMemcpyAsync(HostToDevice)",
      [&](cudaStream_t s) {
        return cudaMemcpyAsync(dev_a.get(), host.get(), size, cudaMemcpyHostToDevice, s);
      },
      h2d_gbps);
  if (!r.ok()) return r;
  r = timer.MedianGbps(
      bytes, repetitions, "cudaMemcpyAsync(DeviceToHost)",
      [&](cudaStream_t s) {
        return cudaMemcpyAsync(host.get(), dev_a.get(), size, cudaMemcpyDeviceToHost, s);
      },
      d2h_gbps);
  if (!r.ok()) return r;
  return timer.MedianGbps(
      bytes, repetitions, "cudaMemcpyAsync(DeviceToDevice)",
      [&](cudaStream_t s) {
        return cudaMemcpyAsync(dev_b.get(), dev_a.get(), size, cudaMemcpyDeviceToDevice, s);
      },
      d2d_gbps);
}

CallResult CanAccessPeer(int src, int dst, bool* supported) {
  if (supported == nullptr) return Fail(cudaErrorInvalidValue, "CanAccessPeer(null)");
  int can = 0;
  GPUSCHED_CUDA_TRY("cudaDeviceCanAccessPeer", cudaDeviceCanAccessPeer(&can, src, dst));
  *supported = can != 0;
  return {};
}

CallResult MeasurePeerCopies(int src, int dst, int64_t bytes, int repetitions,
                             int latency_repetitions, double* gbps, double* latency_us) {
  if (gbps == nullptr || latency_us == nullptr || bytes <= 0) {
    return Fail(cudaErrorInvalidValue, "MeasurePeerCopies(arguments)");
  }
  const size_t size = static_cast<size_t>(bytes);
  ScopedDevice scoped;
  if (CallResult r = scoped.Enter(dst); !r.ok()) return r;
  PeerAccessGuard peers;
  int reverse = 0;
  GPUSCHED_CUDA_TRY("cudaDeviceCanAccessPeer", cudaDeviceCanAccessPeer(&reverse, dst, src));
  if (reverse != 0) {
    if (CallResult r = peers.Enable(dst, src); !r.ok()) return r;
  }
  if (CallResult r = peers.Enable(src, dst); !r.ok()) return r;  // Leaves src current.
  DeviceBuffer on_src;
  DeviceBuffer on_dst;
  Timer timer;
  if (CallResult r = on_src.Allocate(size); !r.ok()) return r;
  GPUSCHED_CUDA_TRY("cudaMemset", cudaMemset(on_src.get(), 0x5a, size));
  GPUSCHED_CUDA_TRY("cudaDeviceSynchronize", cudaDeviceSynchronize());
  if (CallResult r = timer.Create(); !r.ok()) return r;  // Stream and events on src.
  GPUSCHED_CUDA_TRY("cudaSetDevice", cudaSetDevice(dst));
  if (CallResult r = on_dst.Allocate(size); !r.ok()) return r;
  GPUSCHED_CUDA_TRY("cudaSetDevice", cudaSetDevice(src));
  if (CallResult r = timer.MedianGbps(
          bytes, repetitions, "cudaMemcpyPeerAsync",
          [&](cudaStream_t s) {
            return cudaMemcpyPeerAsync(on_dst.get(), dst, on_src.get(), src, size, s);
          },
          gbps);
      !r.ok()) {
    return r;
  }
  const size_t small = std::min(size, kLatencyBytes);
  double median_ms = 0;
  if (CallResult r = timer.MedianMillis(
          latency_repetitions, "cudaMemcpyPeerAsync(4 bytes)",
          [&](cudaStream_t s) {
            return cudaMemcpyPeerAsync(on_dst.get(), dst, on_src.get(), src, small, s);
          },
          &median_ms);
      !r.ok()) {
    return r;
  }
  *latency_us = median_ms * 1e3;
  return {};
}

CallResult MeasureThroughput(int device, int64_t budget_ns, RawThroughput* out) {
  if (out == nullptr || budget_ns <= 0) {
    return Fail(cudaErrorInvalidValue, "MeasureThroughput(arguments)");
  }
  *out = RawThroughput{};
  ScopedDevice scoped;
  if (CallResult r = scoped.Enter(device); !r.ok()) return r;
  GPUSCHED_CUDA_TRY("cudaDeviceGetAttribute",
                    cudaDeviceGetAttribute(&out->sm_count, cudaDevAttrMultiProcessorCount, device));
  GPUSCHED_CUDA_TRY("cudaOccupancyMaxActiveBlocksPerMultiprocessor",
                    cudaOccupancyMaxActiveBlocksPerMultiprocessor(
                        &out->blocks_per_sm, ThroughputKernel, kThroughputBlockSize,
                        /*dynamicSMemSize=*/0));
  if (out->sm_count <= 0 || out->blocks_per_sm <= 0) {
    return Fail(cudaErrorInvalidConfiguration, "ThroughputKernel occupancy (no block fits an SM)");
  }
  const int blocks = out->sm_count * out->blocks_per_sm;
  const size_t count = static_cast<size_t>(blocks);

  DeviceBuffer sink;
  DeviceBuffer sm_ids;
  DeviceBuffer starts;
  DeviceBuffer ends;
  Timer timer;
  if (CallResult r = sink.Allocate(sizeof(float)); !r.ok()) return r;
  if (CallResult r = sm_ids.Allocate(count * sizeof(uint32_t)); !r.ok()) return r;
  if (CallResult r = starts.Allocate(count * sizeof(unsigned long long)); !r.ok()) return r;
  if (CallResult r = ends.Allocate(count * sizeof(unsigned long long)); !r.ok()) return r;
  if (CallResult r = timer.Create(); !r.ok()) return r;

  auto launch = [&](int64_t iterations) {
    return [&, iterations](cudaStream_t s) {
      ThroughputKernel<<<blocks, kThroughputBlockSize, 0, s>>>(
          iterations, kThroughputMultiplier, kThroughputAddend, static_cast<float*>(sink.get()),
          static_cast<uint32_t*>(sm_ids.get()), static_cast<unsigned long long*>(starts.get()),
          static_cast<unsigned long long*>(ends.get()));
      return cudaGetLastError();
    };
  };

  // Warm-up, untimed: the first launch loads the module (CUDA loads lazily) and, on a GPU newer
  // than sm_90, JIT-compiles the PTX; neither is GPU work worth timing.
  GPUSCHED_CUDA_TRY("ThroughputKernel launch", launch(1)(timer.stream()));
  GPUSCHED_CUDA_TRY("ThroughputKernel execution", cudaStreamSynchronize(timer.stream()));
  out->launches = 1;

  const double budget_ms = static_cast<double>(budget_ns) / 1e6;
  int64_t iterations = kCalibrationStartIterations;
  double ms = 0;
  bool calibration_is_measurement = false;
  for (;;) {
    if (CallResult r = timer.TimeOnce("ThroughputKernel", launch(iterations), &ms); !r.ok()) {
      return r;
    }
    ++out->launches;
    out->held_ms += ms;
    if (ms >= budget_ms / 2) {
      calibration_is_measurement = true;
      break;
    }
    if (ms >= budget_ms / 16 || iterations * 4 > kMaxThroughputIterations) break;
    iterations *= 4;
  }
  if (!calibration_is_measurement) {
    const double per_iteration_ms = std::max(ms, 1e-4) / static_cast<double>(iterations);
    const double scaled = budget_ms / per_iteration_ms;
    const double cap =
        static_cast<double>(std::min(iterations * kMaxCalibrationScale, kMaxThroughputIterations));
    iterations = static_cast<int64_t>(std::clamp(scaled, 1.0, cap));
    if (CallResult r = timer.TimeOnce("ThroughputKernel", launch(iterations), &ms); !r.ok()) {
      return r;
    }
    ++out->launches;
    out->held_ms += ms;
  }
  out->iterations = iterations;
  out->elapsed_ms = ms;
  out->flops = static_cast<double>(blocks) * kThroughputBlockSize *
               static_cast<double>(iterations) * kThroughputFmaChains * 2.0;

  std::vector<uint32_t> sm(count);
  std::vector<unsigned long long> start(count);
  std::vector<unsigned long long> end(count);
  GPUSCHED_CUDA_TRY(
      "cudaMemcpy(DeviceToHost)",
      cudaMemcpy(sm.data(), sm_ids.get(), count * sizeof(uint32_t), cudaMemcpyDeviceToHost));
  GPUSCHED_CUDA_TRY("cudaMemcpy(DeviceToHost)",
                    cudaMemcpy(start.data(), starts.get(), count * sizeof(unsigned long long),
                               cudaMemcpyDeviceToHost));
  GPUSCHED_CUDA_TRY("cudaMemcpy(DeviceToHost)",
                    cudaMemcpy(end.data(), ends.get(), count * sizeof(unsigned long long),
                               cudaMemcpyDeviceToHost));
  out->blocks.resize(count);
  for (size_t i = 0; i < count; ++i) {
    out->blocks[i] =
        BlockRecord{sm[i], static_cast<uint64_t>(start[i]), static_cast<uint64_t>(end[i])};
  }
  return {};
}

CallResult RunSaxpy(int device, int n, int64_t* mismatch_index, float* got, float* want) {
  if (mismatch_index == nullptr || got == nullptr || want == nullptr || n <= 0) {
    return Fail(cudaErrorInvalidValue, "RunSaxpy(arguments)");
  }
  *mismatch_index = -1;
  *got = 0;
  *want = 0;
  const size_t count = static_cast<size_t>(n);
  // Small integers and halves: a * x + y is exact in float with or without FMA contraction.
  std::vector<float> x(count);
  std::vector<float> y(count);
  for (size_t i = 0; i < count; ++i) {
    x[i] = static_cast<float>(i % 1000 + 1);
    y[i] = static_cast<float>(i % 77) * 0.5f;
  }

  ScopedDevice scoped;
  if (CallResult r = scoped.Enter(device); !r.ok()) return r;
  int sm_count = 0;
  GPUSCHED_CUDA_TRY("cudaDeviceGetAttribute",
                    cudaDeviceGetAttribute(&sm_count, cudaDevAttrMultiProcessorCount, device));
  DeviceBuffer dx;
  DeviceBuffer dy;
  if (CallResult r = dx.Allocate(count * sizeof(float)); !r.ok()) return r;
  if (CallResult r = dy.Allocate(count * sizeof(float)); !r.ok()) return r;
  GPUSCHED_CUDA_TRY("cudaMemcpy(HostToDevice)",
                    cudaMemcpy(dx.get(), x.data(), count * sizeof(float), cudaMemcpyHostToDevice));
  GPUSCHED_CUDA_TRY("cudaMemcpy(HostToDevice)",
                    cudaMemcpy(dy.get(), y.data(), count * sizeof(float), cudaMemcpyHostToDevice));

  // Fewer blocks than elements for large n, so the grid-stride loop is exercised too.
  const int64_t needed = (static_cast<int64_t>(n) + kSaxpyBlockSize - 1) / kSaxpyBlockSize;
  const int blocks = static_cast<int>(std::min<int64_t>(needed, std::max(sm_count, 1) * 32LL));
  SaxpyKernel<<<blocks, kSaxpyBlockSize>>>(static_cast<int64_t>(n), kSaxpyA,
                                           static_cast<const float*>(dx.get()),
                                           static_cast<float*>(dy.get()));
  GPUSCHED_CUDA_TRY("SaxpyKernel launch", cudaGetLastError());
  GPUSCHED_CUDA_TRY("SaxpyKernel execution", cudaDeviceSynchronize());

  std::vector<float> result(count);
  GPUSCHED_CUDA_TRY(
      "cudaMemcpy(DeviceToHost)",
      cudaMemcpy(result.data(), dy.get(), count * sizeof(float), cudaMemcpyDeviceToHost));
  for (size_t i = 0; i < count; ++i) {
    const float expected = kSaxpyA * x[i] + y[i];
    if (result[i] != expected) {
      *mismatch_index = static_cast<int64_t>(i);
      *got = result[i];
      *want = expected;
      break;
    }
  }
  return {};
}

#undef GPUSCHED_CUDA_TRY

}  // namespace gpusched::kernels::internal

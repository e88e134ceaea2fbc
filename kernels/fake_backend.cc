// FakeBackend: the CPU model of GPUs behind backend.h. See the class comment there for what each
// probe reports.

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "kernels/backend.h"
#include "kernels/internal/validate.h"
#include "kernels/probe.h"

namespace gpusched::kernels {
namespace {

constexpr int kWarpSize = 32;
// Block size of the throughput probe kernel (internal/cuda_probe.h, kThroughputBlockSize).
constexpr int kThroughputBlockSize = 256;
constexpr double kMaxNoise = 0.5;

bool Finite(double v) { return std::isfinite(v); }

absl::Status Bad(std::string message) { return absl::InvalidArgumentError(std::move(message)); }

std::string DefaultBusId(size_t index) {
  return absl::StrFormat("0000:%02x:00.0", 0x10 + static_cast<int>(index));
}

// Resident blocks per SM of a kernel whose registers and shared memory never limit it.
int ActiveBlocks(const FakeGpu& gpu, int block_size) {
  return std::min(gpu.max_threads_per_sm / block_size, gpu.max_blocks_per_sm);
}

absl::Status ValidateGpu(const FakeGpu& g, size_t i) {
  const std::string at = absl::StrFormat("gpus[%d]", i);
  if (g.name.empty()) return Bad(at + ".name must not be empty");
  if (g.sm_count < 1 || g.sm_count > 1024) {
    return Bad(absl::StrFormat("%s.sm_count must be in [1, 1024], got %d", at, g.sm_count));
  }
  if (g.memory_bytes <= 0) {
    return Bad(absl::StrFormat("%s.memory_bytes must be > 0, got %d", at, g.memory_bytes));
  }
  const std::pair<const char*, double> rates[] = {{"peak_gflops", g.peak_gflops},
                                                  {"d2d_gbps", g.d2d_gbps},
                                                  {"h2d_gbps", g.h2d_gbps},
                                                  {"d2h_gbps", g.d2h_gbps}};
  for (const auto& [field, value] : rates) {
    if (!Finite(value) || value <= 0) {
      return Bad(absl::StrFormat("%s.%s must be finite and > 0, got %g", at, field, value));
    }
  }
  if (!Finite(g.load) || g.load < 0 || g.load > 1) {
    return Bad(absl::StrFormat("%s.load must be in [0, 1], got %g", at, g.load));
  }
  if (g.compute_major < 1 || g.compute_minor < 0) {
    return Bad(absl::StrFormat("%s compute capability must be >= 1.0, got %d.%d", at,
                               g.compute_major, g.compute_minor));
  }
  if (g.max_threads_per_sm < 256 || g.max_threads_per_sm > 4096 ||
      g.max_threads_per_sm % kWarpSize != 0) {
    return Bad(
        absl::StrFormat("%s.max_threads_per_sm must be a multiple of 32 in [256, 4096], "
                        "got %d",
                        at, g.max_threads_per_sm));
  }
  if (g.max_blocks_per_sm < 1 || g.max_blocks_per_sm > 64) {
    return Bad(absl::StrFormat("%s.max_blocks_per_sm must be in [1, 64], got %d", at,
                               g.max_blocks_per_sm));
  }
  return absl::OkStatus();
}

struct Model {
  const char* key;
  FakeGpu gpu;
};

// Approximate published figures: SM count, memory, FP32 peak; d2d about 40% of the memory
// bandwidth (a copy reads and writes each byte; counted once); h2d/d2h what PCIe 3/4/5 x16
// achieves.
const std::vector<Model>& Models() {
  static const auto* models = new std::vector<Model>{
      {"v100",
       {"Tesla V100-SXM2-32GB", 80, int64_t{32} << 30, 15700, 380, 0, "", 12, 12, 7, 0, 2048, 32}},
      {"a100",
       {"NVIDIA A100-SXM4-80GB", 108, int64_t{80} << 30, 19500, 800, 0, "", 25, 25, 8, 0, 2048,
        32}},
      {"h100",
       {"NVIDIA H100 80GB HBM3", 132, int64_t{80} << 30, 66900, 1400, 0, "", 50, 50, 9, 0, 2048,
        32}},
      {"b200",
       {"NVIDIA B200", 148, int64_t{180} << 30, 80000, 3200, 0, "", 50, 50, 10, 0, 2048, 32}},
      {"t4", {"Tesla T4", 40, int64_t{15} << 30, 8100, 120, 0, "", 12, 12, 7, 5, 1024, 16}},
      {"a10", {"NVIDIA A10", 72, int64_t{24} << 30, 31200, 250, 0, "", 25, 25, 8, 6, 1536, 16}},
  };
  return *models;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

absl::Status ValidateFakeSpec(const FakeSpec& spec) {
  if (spec.gpus.size() > 1024) {
    return Bad(absl::StrFormat("gpus must hold at most 1024 GPUs, got %d", spec.gpus.size()));
  }
  std::set<std::string> bus_ids;
  for (size_t i = 0; i < spec.gpus.size(); ++i) {
    if (absl::Status s = ValidateGpu(spec.gpus[i], i); !s.ok()) return s;
    const std::string& id =
        spec.gpus[i].pci_bus_id.empty() ? DefaultBusId(i) : spec.gpus[i].pci_bus_id;
    if (!bus_ids.insert(id).second) {
      return Bad(absl::StrFormat("gpus[%d].pci_bus_id %s is not unique", i, id));
    }
  }
  if (!spec.p2p_gbps.empty()) {
    const size_t n = spec.gpus.size();
    if (spec.p2p_gbps.size() != n) {
      return Bad(absl::StrFormat("p2p_gbps must be empty or have %d rows (one per GPU), got %d", n,
                                 spec.p2p_gbps.size()));
    }
    for (size_t src = 0; src < n; ++src) {
      if (spec.p2p_gbps[src].size() != n) {
        return Bad(absl::StrFormat("p2p_gbps[%d] must have %d entries (one per GPU), got %d", src,
                                   n, spec.p2p_gbps[src].size()));
      }
      for (size_t dst = 0; dst < n; ++dst) {
        const double v = spec.p2p_gbps[src][dst];
        if (!Finite(v) || v < 0) {
          return Bad(
              absl::StrFormat("p2p_gbps[%d][%d] must be finite and >= 0, got %g", src, dst, v));
        }
      }
    }
  }
  if (!Finite(spec.noise) || spec.noise < 0 || spec.noise > kMaxNoise) {
    return Bad(absl::StrFormat("noise must be in [0, %g], got %g", kMaxNoise, spec.noise));
  }
  if (!Finite(spec.p2p_latency_us) || spec.p2p_latency_us <= 0) {
    return Bad(
        absl::StrFormat("p2p_latency_us must be finite and > 0, got %g", spec.p2p_latency_us));
  }
  return absl::OkStatus();
}

absl::StatusOr<FakeGpu> FakeGpuModel(std::string_view model) {
  for (const Model& m : Models()) {
    if (EqualsIgnoreCase(model, m.key)) return m.gpu;
  }
  return absl::NotFoundError(absl::StrFormat("no fake GPU model \"%s\"; known: %s", model,
                                             absl::StrJoin(FakeGpuModelNames(), ", ")));
}

std::vector<std::string> FakeGpuModelNames() {
  std::vector<std::string> names;
  for (const Model& m : Models()) names.emplace_back(m.key);
  return names;
}

absl::StatusOr<std::unique_ptr<FakeBackend>> FakeBackend::Create(FakeSpec spec) {
  if (absl::Status s = ValidateFakeSpec(spec); !s.ok()) return s;
  for (size_t i = 0; i < spec.gpus.size(); ++i) {
    if (spec.gpus[i].pci_bus_id.empty()) spec.gpus[i].pci_bus_id = DefaultBusId(i);
  }
  return std::unique_ptr<FakeBackend>(new FakeBackend(std::move(spec)));
}

FakeBackend::FakeBackend(FakeSpec spec)
    : gpu_count_(static_cast<int>(spec.gpus.size())), spec_(std::move(spec)), rng_(spec_.seed) {}

absl::Status FakeBackend::CheckDevice(std::string_view field, int device) const {
  if (absl::Status s = internal::ValidateDeviceIndex(field, device); !s.ok()) return s;
  return internal::ValidateDeviceInRange(field, device, gpu_count_, "fake");
}

double FakeBackend::Noisy(double value) {
  // 53 random bits as a double in [0, 1): the same sequence from every standard library, unlike
  // std::uniform_real_distribution.
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
  return value * (1.0 + spec_.noise * (2.0 * u - 1.0));
}

absl::StatusOr<int> FakeBackend::DeviceCount() { return gpu_count_; }

absl::StatusOr<DeviceInfo> FakeBackend::Describe(int device) {
  if (absl::Status s = CheckDevice("index", device); !s.ok()) return s;
  MutexLock lock(&mu_);
  const FakeGpu& g = spec_.gpus[static_cast<size_t>(device)];
  DeviceInfo info;
  info.index = device;
  info.name = g.name;
  info.compute_major = g.compute_major;
  info.compute_minor = g.compute_minor;
  info.sm_count = g.sm_count;
  info.memory_bytes = g.memory_bytes;
  info.max_threads_per_sm = g.max_threads_per_sm;
  info.pci_bus_id = g.pci_bus_id;
  return info;
}

absl::StatusOr<OccupancyResult> FakeBackend::ProbeOccupancy(int device, int block_size) {
  if (absl::Status s = internal::ValidateBlockSize(block_size); !s.ok()) return s;
  if (absl::Status s = CheckDevice("device", device); !s.ok()) return s;
  MutexLock lock(&mu_);
  const FakeGpu& g = spec_.gpus[static_cast<size_t>(device)];
  OccupancyResult result;
  result.block_size = block_size;
  result.active_blocks_per_sm = ActiveBlocks(g, block_size);
  result.max_warps_per_sm = g.max_threads_per_sm / kWarpSize;
  result.occupancy = static_cast<double>(result.active_blocks_per_sm) * (block_size / kWarpSize) /
                     static_cast<double>(result.max_warps_per_sm);
  return result;
}

absl::StatusOr<ThroughputResult> FakeBackend::ProbeThroughput(int device, absl::Duration budget) {
  if (absl::Status s = internal::ValidateBudget(budget); !s.ok()) return s;
  if (absl::Status s = CheckDevice("device", device); !s.ok()) return s;
  MutexLock lock(&mu_);
  const FakeGpu& g = spec_.gpus[static_cast<size_t>(device)];
  const double share = std::max(1.0 - g.load, 1.0 / g.sm_count);
  ThroughputResult result;
  result.sm_count = g.sm_count;
  result.sms_reached = std::clamp(static_cast<int>(std::lround(g.sm_count * share)), 1, g.sm_count);
  result.available_sm_fraction = static_cast<double>(result.sms_reached) / g.sm_count;
  result.gflops = Noisy(g.peak_gflops * share);
  result.duration_us =
      std::max<int64_t>(1, static_cast<int64_t>(std::ceil(absl::ToDoubleMicroseconds(budget))));
  result.blocks_per_sm = ActiveBlocks(g, kThroughputBlockSize);
  result.held_us = result.duration_us;
  return result;
}

absl::StatusOr<BandwidthResult> FakeBackend::ProbeBandwidth(int device, int64_t bytes) {
  if (absl::Status s = internal::ValidateBytes(bytes); !s.ok()) return s;
  if (absl::Status s = CheckDevice("device", device); !s.ok()) return s;
  MutexLock lock(&mu_);
  const FakeGpu& g = spec_.gpus[static_cast<size_t>(device)];
  if (bytes > g.memory_bytes / 2) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "cudaMalloc failed: fake device %d has %d bytes; ProbeBandwidth(bytes=%d) needs twice "
        "that many",
        device, g.memory_bytes, bytes));
  }
  BandwidthResult result;
  result.bytes = bytes;
  result.host_to_device_gbps = Noisy(g.h2d_gbps);
  result.device_to_host_gbps = Noisy(g.d2h_gbps);
  result.device_to_device_gbps = Noisy(g.d2d_gbps);
  return result;
}

absl::StatusOr<P2PResult> FakeBackend::ProbePeerToPeer(int src, int dst, int64_t bytes) {
  if (absl::Status s = internal::ValidatePeerPair(src, dst); !s.ok()) return s;
  if (absl::Status s = internal::ValidateBytes(bytes); !s.ok()) return s;
  if (absl::Status s = CheckDevice("src", src); !s.ok()) return s;
  if (absl::Status s = CheckDevice("dst", dst); !s.ok()) return s;
  MutexLock lock(&mu_);
  P2PResult result;
  if (spec_.p2p_gbps.empty()) return result;
  const double gbps = spec_.p2p_gbps[static_cast<size_t>(src)][static_cast<size_t>(dst)];
  if (gbps <= 0) return result;
  result.access_supported = true;
  result.gbps = Noisy(gbps);
  result.latency_us = Noisy(spec_.p2p_latency_us);
  return result;
}

absl::Status FakeBackend::RunSaxpyCheck(int device, int n) {
  if (absl::Status s = internal::ValidateSaxpyElements(n); !s.ok()) return s;
  return CheckDevice("device", device);
}

absl::Status FakeBackend::SetLoad(int gpu, double load) {
  if (absl::Status s = CheckDevice("gpu", gpu); !s.ok()) return s;
  if (!Finite(load) || load < 0 || load > 1) {
    return Bad(absl::StrFormat("load must be in [0, 1], got %g", load));
  }
  MutexLock lock(&mu_);
  spec_.gpus[static_cast<size_t>(gpu)].load = load;
  return absl::OkStatus();
}

absl::StatusOr<double> FakeBackend::GetLoad(int gpu) const {
  if (absl::Status s = CheckDevice("gpu", gpu); !s.ok()) return s;
  MutexLock lock(&mu_);
  return spec_.gpus[static_cast<size_t>(gpu)].load;
}

FakeSpec FakeBackend::spec() const {
  MutexLock lock(&mu_);
  return spec_;
}

absl::StatusOr<std::unique_ptr<FakeBackend>> NewFakeBackend(FakeSpec spec) {
  return FakeBackend::Create(std::move(spec));
}

}  // namespace gpusched::kernels

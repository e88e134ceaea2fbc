#pragma once

// NVML, the NVIDIA driver's management library, reached through dlopen("libnvidia-ml.so.1") so
// the agent builds without NVML headers and runs on nodes without a driver (Load says NotFound).
// Only the handful of entry points the agent needs are bound, declared here from NVML's public
// C API (types reduced to what the calls use).
//
//   absl::StatusOr<std::unique_ptr<Nvml>> nvml = Nvml::Load();
//   if (nvml.ok()) {
//     ASSIGN_OR_RETURN(int n, (*nvml)->DeviceCount());
//     ASSIGN_OR_RETURN(NvmlDevice d, (*nvml)->Describe(0));   // uuid, name, PCI bus id, memory
//     ASSIGN_OR_RETURN(NvmlSample s, (*nvml)->Sample(0));     // utilization, memory, temperature, power
//     (*nvml)->PollXid();                                     // XID events since the last poll
//   }
//
// Every NVML failure becomes a status naming the call and NVML's error string. Tests drive the
// same code through a table of fake entry points (NvmlApi).
//
// Thread safety: NVML itself is thread-safe; an Nvml object may be used from several threads.
// The XID event set is created on the first PollXid and polled by one thread at a time: events_mu_
// guards events_ and events_tried_ (PollXid holds it throughout; nothing else takes it).

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "common/mutex.h"

namespace gpusched::agent {

// NVML's C types, as far as the agent uses them (nvml.h, NVML API version 11+).
using nvmlReturn_t = int;  // NVML_SUCCESS = 0
using nvmlDevice_t = struct nvmlDevice_st*;
using nvmlEventSet_t = struct nvmlEventSet_st*;
struct nvmlMemory_t {
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
};
struct nvmlUtilization_t {
  unsigned int gpu;
  unsigned int memory;
};
struct nvmlPciInfo_t {
  char busIdLegacy[16];
  unsigned int domain;
  unsigned int bus;
  unsigned int device;
  unsigned int pciDeviceId;
  unsigned int pciSubSystemId;
  char busId[32];
};
struct nvmlEventData_t {
  nvmlDevice_t device;
  unsigned long long eventType;
  unsigned long long eventData;
  unsigned int gpuInstanceId;
  unsigned int computeInstanceId;
};
inline constexpr unsigned long long kNvmlEventTypeXidCriticalError = 0x0000000000000008LL;
inline constexpr int kNvmlTemperatureGpu = 0;
inline constexpr int kNvmlErrorTimeout = 10;

// The bound entry points. Load fills it with dlsym; tests fill it with fakes.
struct NvmlApi {
  std::function<nvmlReturn_t()> init;
  std::function<nvmlReturn_t()> shutdown;
  std::function<const char*(nvmlReturn_t)> error_string;
  std::function<nvmlReturn_t(unsigned int*)> device_count;
  std::function<nvmlReturn_t(unsigned int, nvmlDevice_t*)> handle_by_index;
  std::function<nvmlReturn_t(nvmlDevice_t, char*, unsigned int)> uuid;
  std::function<nvmlReturn_t(nvmlDevice_t, char*, unsigned int)> name;
  std::function<nvmlReturn_t(nvmlDevice_t, nvmlMemory_t*)> memory;
  std::function<nvmlReturn_t(nvmlDevice_t, nvmlPciInfo_t*)> pci;
  std::function<nvmlReturn_t(nvmlDevice_t, nvmlUtilization_t*)> utilization;
  std::function<nvmlReturn_t(nvmlDevice_t, int, unsigned int*)> temperature;
  std::function<nvmlReturn_t(nvmlDevice_t, unsigned int*)> power_mw;
  // Optional (null when the driver lacks them): XID events.
  std::function<nvmlReturn_t(nvmlEventSet_t*)> event_set_create;
  std::function<nvmlReturn_t(nvmlDevice_t, unsigned long long, nvmlEventSet_t)> register_events;
  std::function<nvmlReturn_t(nvmlEventSet_t, nvmlEventData_t*, unsigned int)> event_wait;
};

struct NvmlDevice {
  std::string uuid;        // "GPU-8c1f0a1e-..."
  std::string name;        // "NVIDIA A100-SXM4-80GB"
  std::string pci_bus_id;  // "0000:3b:00.0" (lower case, 4-digit domain, as CUDA prints it)
  int64_t memory_mib = 0;
};

struct NvmlSample {
  double gpu_util_percent = 0;
  int64_t memory_used_mib = 0;
  int64_t memory_free_mib = 0;
  double temperature_c = 0;
  double power_w = 0;
};

struct XidEvent {
  int gpu = 0;       // NVML device index
  uint64_t xid = 0;  // 79: fallen off the bus, 48: double-bit ECC, 13/31/43: application faults
};

class Nvml {
 public:
  // NotFound when libnvidia-ml.so.1 cannot be opened (no driver); Internal when a required entry
  // point is missing or nvmlInit fails.
  static absl::StatusOr<std::unique_ptr<Nvml>> Load(const std::string& library = "libnvidia-ml.so.1");
  // Over an already bound table (tests); calls api.init.
  static absl::StatusOr<std::unique_ptr<Nvml>> FromApi(NvmlApi api);
  ~Nvml();

  absl::StatusOr<int> DeviceCount() const;
  absl::StatusOr<NvmlDevice> Describe(int index) const;
  absl::StatusOr<NvmlSample> Sample(int index) const;
  // XID critical errors since the previous call (never blocks). Empty when the driver does not
  // support events.
  std::vector<XidEvent> PollXid();

 private:
  explicit Nvml(NvmlApi api, void* library) : api_(std::move(api)), library_(library) {}
  absl::Status Check(nvmlReturn_t r, const char* call) const;
  absl::StatusOr<nvmlDevice_t> Handle(int index) const;

  NvmlApi api_;
  void* library_ = nullptr;  // dlopen handle; null for FromApi
  Mutex events_mu_;
  nvmlEventSet_t events_ ABSL_GUARDED_BY(events_mu_) = nullptr;
  bool events_tried_ ABSL_GUARDED_BY(events_mu_) = false;
};

// "NVIDIA A100-SXM4-80GB" -> "NVIDIA-A100-SXM4-80GB": the device name as NVIDIA GPU Feature
// Discovery writes it into nvidia.com/gpu.product (blanks become dashes), so that a pod's
// gpusched.io/gpu-model matches the same string whether the node's GPUs come from the agent or
// from the node's labels.
std::string GfdModelName(std::string_view device_name);

}  // namespace gpusched::agent

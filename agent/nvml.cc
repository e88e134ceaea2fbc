#include "agent/nvml.h"

#include <dlfcn.h>

#include <cctype>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace gpusched::agent {
namespace {

template <class Fn>
bool Bind(void* lib, const char* symbol, std::function<Fn>& out) {
  void* p = dlsym(lib, symbol);
  if (p == nullptr) return false;
  out = reinterpret_cast<Fn*>(p);
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Nvml>> Nvml::Load(const std::string& library) {
  void* lib = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* e = dlerror();
    return absl::NotFoundError(absl::StrCat("cannot load ", library, ": ", e ? e : "unknown error",
                                            " (no NVIDIA driver on this node?)"));
  }
  NvmlApi api;
  struct Required {
    const char* symbol;
    bool ok;
  };
  const Required required[] = {
      {"nvmlInit_v2", Bind(lib, "nvmlInit_v2", api.init)},
      {"nvmlShutdown", Bind(lib, "nvmlShutdown", api.shutdown)},
      {"nvmlErrorString", Bind(lib, "nvmlErrorString", api.error_string)},
      {"nvmlDeviceGetCount_v2", Bind(lib, "nvmlDeviceGetCount_v2", api.device_count)},
      {"nvmlDeviceGetHandleByIndex_v2", Bind(lib, "nvmlDeviceGetHandleByIndex_v2", api.handle_by_index)},
      {"nvmlDeviceGetUUID", Bind(lib, "nvmlDeviceGetUUID", api.uuid)},
      {"nvmlDeviceGetName", Bind(lib, "nvmlDeviceGetName", api.name)},
      {"nvmlDeviceGetMemoryInfo", Bind(lib, "nvmlDeviceGetMemoryInfo", api.memory)},
      {"nvmlDeviceGetPciInfo_v3", Bind(lib, "nvmlDeviceGetPciInfo_v3", api.pci)},
      {"nvmlDeviceGetUtilizationRates", Bind(lib, "nvmlDeviceGetUtilizationRates", api.utilization)},
      {"nvmlDeviceGetTemperature", Bind(lib, "nvmlDeviceGetTemperature", api.temperature)},
      {"nvmlDeviceGetPowerUsage", Bind(lib, "nvmlDeviceGetPowerUsage", api.power_mw)},
  };
  for (const Required& r : required) {
    if (!r.ok) {
      dlclose(lib);
      return absl::InternalError(absl::StrCat(library, " has no ", r.symbol, " (driver too old?)"));
    }
  }
  Bind(lib, "nvmlEventSetCreate", api.event_set_create);
  Bind(lib, "nvmlDeviceRegisterEvents", api.register_events);
  Bind(lib, "nvmlEventSetWait_v2", api.event_wait);
  nvmlReturn_t r = api.init();
  if (r != 0) {
    std::string e = api.error_string ? api.error_string(r) : "";
    dlclose(lib);
    return absl::InternalError(absl::StrCat("nvmlInit_v2: ", e, " (", r, ")"));
  }
  return std::unique_ptr<Nvml>(new Nvml(std::move(api), lib));
}

absl::StatusOr<std::unique_ptr<Nvml>> Nvml::FromApi(NvmlApi api) {
  if (!api.init || !api.device_count || !api.handle_by_index) {
    return absl::InvalidArgumentError("NvmlApi: init, device_count and handle_by_index are required");
  }
  if (nvmlReturn_t r = api.init(); r != 0) {
    return absl::InternalError(absl::StrCat("nvmlInit_v2 failed (", r, ")"));
  }
  return std::unique_ptr<Nvml>(new Nvml(std::move(api), nullptr));
}

Nvml::~Nvml() {
  if (api_.shutdown) api_.shutdown();
  if (library_ != nullptr) dlclose(library_);
}

absl::Status Nvml::Check(nvmlReturn_t r, const char* call) const {
  if (r == 0) return absl::OkStatus();
  const char* e = api_.error_string ? api_.error_string(r) : nullptr;
  return absl::InternalError(absl::StrCat(call, ": ", e ? e : "error", " (", r, ")"));
}

absl::StatusOr<int> Nvml::DeviceCount() const {
  unsigned int n = 0;
  if (absl::Status s = Check(api_.device_count(&n), "nvmlDeviceGetCount_v2"); !s.ok()) return s;
  return static_cast<int>(n);
}

absl::StatusOr<nvmlDevice_t> Nvml::Handle(int index) const {
  if (index < 0) return absl::InvalidArgumentError(absl::StrCat("NVML device ", index, " is negative"));
  nvmlDevice_t h = nullptr;
  if (absl::Status s = Check(api_.handle_by_index(static_cast<unsigned>(index), &h),
                             "nvmlDeviceGetHandleByIndex_v2");
      !s.ok()) {
    return s;
  }
  return h;
}

absl::StatusOr<NvmlDevice> Nvml::Describe(int index) const {
  absl::StatusOr<nvmlDevice_t> h = Handle(index);
  if (!h.ok()) return h.status();
  NvmlDevice d;
  char buf[96] = {};
  if (api_.uuid) {
    if (absl::Status s = Check(api_.uuid(*h, buf, sizeof(buf) - 1), "nvmlDeviceGetUUID"); !s.ok()) return s;
    d.uuid = buf;
  }
  if (api_.name) {
    char name[96] = {};
    if (absl::Status s = Check(api_.name(*h, name, sizeof(name) - 1), "nvmlDeviceGetName"); !s.ok()) return s;
    d.name = name;
  }
  if (api_.memory) {
    nvmlMemory_t m{};
    if (absl::Status s = Check(api_.memory(*h, &m), "nvmlDeviceGetMemoryInfo"); !s.ok()) return s;
    d.memory_mib = static_cast<int64_t>(m.total >> 20);
  }
  if (api_.pci) {
    nvmlPciInfo_t p{};
    if (absl::Status s = Check(api_.pci(*h, &p), "nvmlDeviceGetPciInfo_v3"); !s.ok()) return s;
    // NVML prints "00000000:3B:00.0"; CUDA and Kubernetes tools use "0000:3b:00.0".
    d.pci_bus_id = absl::AsciiStrToLower(absl::StrFormat("%04x:%02x:%02x.0", p.domain, p.bus, p.device));
  }
  return d;
}

absl::StatusOr<NvmlSample> Nvml::Sample(int index) const {
  absl::StatusOr<nvmlDevice_t> h = Handle(index);
  if (!h.ok()) return h.status();
  NvmlSample s;
  if (api_.utilization) {
    nvmlUtilization_t u{};
    if (absl::Status st = Check(api_.utilization(*h, &u), "nvmlDeviceGetUtilizationRates"); !st.ok()) return st;
    s.gpu_util_percent = u.gpu;
  }
  if (api_.memory) {
    nvmlMemory_t m{};
    if (absl::Status st = Check(api_.memory(*h, &m), "nvmlDeviceGetMemoryInfo"); !st.ok()) return st;
    s.memory_used_mib = static_cast<int64_t>(m.used >> 20);
    s.memory_free_mib = static_cast<int64_t>(m.free >> 20);
  }
  if (api_.temperature) {
    unsigned int t = 0;
    if (absl::Status st = Check(api_.temperature(*h, kNvmlTemperatureGpu, &t), "nvmlDeviceGetTemperature"); !st.ok()) return st;
    s.temperature_c = t;
  }
  if (api_.power_mw) {
    unsigned int mw = 0;
    if (absl::Status st = Check(api_.power_mw(*h, &mw), "nvmlDeviceGetPowerUsage"); !st.ok()) return st;
    s.power_w = mw / 1000.0;
  }
  return s;
}

std::vector<XidEvent> Nvml::PollXid() {
  std::vector<XidEvent> out;
  MutexLock l(&events_mu_);
  if (!api_.event_set_create || !api_.register_events || !api_.event_wait) return out;
  if (!events_tried_) {
    events_tried_ = true;
    if (api_.event_set_create(&events_) != 0) {
      events_ = nullptr;
      return out;
    }
    absl::StatusOr<int> n = DeviceCount();
    for (int i = 0; n.ok() && i < *n; ++i) {
      absl::StatusOr<nvmlDevice_t> h = Handle(i);
      if (h.ok()) api_.register_events(*h, kNvmlEventTypeXidCriticalError, events_);
    }
  }
  if (events_ == nullptr) return out;
  absl::StatusOr<int> n = DeviceCount();
  for (int guard = 0; guard < 1024; ++guard) {  // drain what is queued, boundedly
    nvmlEventData_t e{};
    if (api_.event_wait(events_, &e, 0) != 0) break;  // NVML_ERROR_TIMEOUT: nothing queued
    if (e.eventType != kNvmlEventTypeXidCriticalError) continue;
    int gpu = -1;
    for (int i = 0; n.ok() && i < *n; ++i) {
      absl::StatusOr<nvmlDevice_t> h = Handle(i);
      if (h.ok() && *h == e.device) gpu = i;
    }
    if (gpu >= 0) out.push_back(XidEvent{gpu, e.eventData});
  }
  return out;
}

std::string GfdModelName(std::string_view device_name) {
  size_t b = 0, e = device_name.size();
  while (b < e && absl::ascii_isspace(static_cast<unsigned char>(device_name[b]))) ++b;
  while (e > b && absl::ascii_isspace(static_cast<unsigned char>(device_name[e - 1]))) --e;
  std::string out(device_name.substr(b, e - b));
  for (char& c : out) {
    if (c == ' ') c = '-';
  }
  return out;
}

}  // namespace gpusched::agent

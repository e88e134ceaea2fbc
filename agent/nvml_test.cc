#include "agent/nvml.h"

#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gpusched::agent {
namespace {

using ::testing::HasSubstr;

// A fake driver: `n` devices whose handles are distinct fake pointers, with per-device figures.
struct FakeDriver {
  struct Dev {
    std::string uuid;
    std::string name;
    unsigned domain = 0, bus = 0, device = 0;
    unsigned long long total = 0, used = 0, free = 0;
    unsigned util = 0, temp = 0, power_mw = 0;
  };
  std::vector<Dev> devs;
  int inits = 0, shutdowns = 0;
  std::map<std::string, nvmlReturn_t> fail;  // call name -> error code
  std::deque<nvmlEventData_t> events;
  int registered = 0;
  static inline char event_set_storage;

  static nvmlDevice_t HandleOf(int i) {
    return reinterpret_cast<nvmlDevice_t>(static_cast<uintptr_t>(0x1000 + 0x10 * i));
  }
  int IndexOf(nvmlDevice_t h) const {
    for (int i = 0; i < static_cast<int>(devs.size()); ++i) {
      if (HandleOf(i) == h) return i;
    }
    return -1;
  }
  nvmlReturn_t Fail(const std::string& call) const {
    auto it = fail.find(call);
    return it == fail.end() ? 0 : it->second;
  }

  // The required entry points plus the optional XID events when `events_api`.
  NvmlApi Api(bool events_api) {
    NvmlApi api;
    api.init = [this] { ++inits; return Fail("init"); };
    api.shutdown = [this] { ++shutdowns; return 0; };
    api.error_string = [](nvmlReturn_t r) -> const char* {
      switch (r) {
        case 3: return "Not Supported";
        case 15: return "GPU is lost";
        default: return "Unknown Error";
      }
    };
    api.device_count = [this](unsigned* n) {
      if (nvmlReturn_t r = Fail("count"); r != 0) return r;
      *n = static_cast<unsigned>(devs.size());
      return 0;
    };
    api.handle_by_index = [this](unsigned i, nvmlDevice_t* h) {
      if (i >= devs.size()) return 2;  // NVML_ERROR_INVALID_ARGUMENT
      *h = HandleOf(static_cast<int>(i));
      return 0;
    };
    api.uuid = [this](nvmlDevice_t h, char* buf, unsigned len) {
      if (nvmlReturn_t r = Fail("uuid"); r != 0) return r;
      std::strncpy(buf, devs[IndexOf(h)].uuid.c_str(), len);
      return 0;
    };
    api.name = [this](nvmlDevice_t h, char* buf, unsigned len) {
      std::strncpy(buf, devs[IndexOf(h)].name.c_str(), len);
      return 0;
    };
    api.memory = [this](nvmlDevice_t h, nvmlMemory_t* m) {
      if (nvmlReturn_t r = Fail("memory"); r != 0) return r;
      const Dev& d = devs[IndexOf(h)];
      m->total = d.total;
      m->used = d.used;
      m->free = d.free;
      return 0;
    };
    api.pci = [this](nvmlDevice_t h, nvmlPciInfo_t* p) {
      if (nvmlReturn_t r = Fail("pci"); r != 0) return r;
      const Dev& d = devs[IndexOf(h)];
      p->domain = d.domain;
      p->bus = d.bus;
      p->device = d.device;
      std::snprintf(p->busId, sizeof(p->busId), "%08X:%02X:%02X.0", d.domain, d.bus, d.device);
      return 0;
    };
    api.utilization = [this](nvmlDevice_t h, nvmlUtilization_t* u) {
      u->gpu = devs[IndexOf(h)].util;
      u->memory = 0;
      return 0;
    };
    api.temperature = [this](nvmlDevice_t h, int sensor, unsigned* t) {
      if (sensor != kNvmlTemperatureGpu) return 2;
      *t = devs[IndexOf(h)].temp;
      return 0;
    };
    api.power_mw = [this](nvmlDevice_t h, unsigned* mw) {
      if (nvmlReturn_t r = Fail("power"); r != 0) return r;
      *mw = devs[IndexOf(h)].power_mw;
      return 0;
    };
    if (events_api) {
      api.event_set_create = [](nvmlEventSet_t* set) {
        *set = reinterpret_cast<nvmlEventSet_t>(&event_set_storage);
        return 0;
      };
      api.register_events = [this](nvmlDevice_t h, unsigned long long types, nvmlEventSet_t) {
        if (IndexOf(h) >= 0 && (types & kNvmlEventTypeXidCriticalError)) ++registered;
        return 0;
      };
      api.event_wait = [this](nvmlEventSet_t, nvmlEventData_t* e, unsigned timeout_ms) {
        if (timeout_ms != 0) return 999;  // PollXid must never block
        if (events.empty()) return kNvmlErrorTimeout;
        *e = events.front();
        events.pop_front();
        return 0;
      };
    }
    return api;
  }
};

FakeDriver TwoGpus() {
  FakeDriver d;
  FakeDriver::Dev a;
  a.uuid = "GPU-8c1f0a1e-0000";
  a.name = "NVIDIA A100-SXM4-80GB";
  a.domain = 0;
  a.bus = 0x3b;
  a.device = 0;
  a.total = 81920ull << 20;
  a.used = 1024ull << 20;
  a.free = 80896ull << 20;
  a.util = 37;
  a.temp = 45;
  a.power_mw = 87654;
  FakeDriver::Dev b = a;
  b.uuid = "GPU-8c1f0a1e-0001";
  b.domain = 0x1;
  b.bus = 0xAF;
  b.device = 0x1F;
  b.util = 100;
  d.devs = {a, b};
  return d;
}

TEST(NvmlTest, FromApiRequiresTheCoreEntryPoints) {
  FakeDriver d = TwoGpus();
  NvmlApi api = d.Api(false);
  api.handle_by_index = nullptr;
  EXPECT_EQ(Nvml::FromApi(std::move(api)).status().code(), absl::StatusCode::kInvalidArgument);

  d.fail["init"] = 15;
  absl::StatusOr<std::unique_ptr<Nvml>> nvml = Nvml::FromApi(d.Api(false));
  EXPECT_EQ(nvml.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(nvml.status().message()), HasSubstr("nvmlInit"));
}

TEST(NvmlTest, DescribeFormatsPciBusIdAndMemory) {
  FakeDriver d = TwoGpus();
  {
    absl::StatusOr<std::unique_ptr<Nvml>> nvml = Nvml::FromApi(d.Api(false));
    ASSERT_TRUE(nvml.ok()) << nvml.status();
    EXPECT_EQ(d.inits, 1);
    absl::StatusOr<int> n = (*nvml)->DeviceCount();
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(*n, 2);

    absl::StatusOr<NvmlDevice> g0 = (*nvml)->Describe(0);
    ASSERT_TRUE(g0.ok()) << g0.status();
    EXPECT_EQ(g0->uuid, "GPU-8c1f0a1e-0000");
    EXPECT_EQ(g0->name, "NVIDIA A100-SXM4-80GB");
    EXPECT_EQ(g0->pci_bus_id, "0000:3b:00.0");
    EXPECT_EQ(g0->memory_mib, 81920);

    absl::StatusOr<NvmlDevice> g1 = (*nvml)->Describe(1);
    ASSERT_TRUE(g1.ok()) << g1.status();
    EXPECT_EQ(g1->uuid, "GPU-8c1f0a1e-0001");
    EXPECT_EQ(g1->pci_bus_id, "0001:af:1f.0");

    EXPECT_FALSE((*nvml)->Describe(2).ok());
    EXPECT_EQ((*nvml)->Describe(-1).status().code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(d.shutdowns, 1);  // the destructor shuts NVML down
}

TEST(NvmlTest, SampleConvertsUnits) {
  FakeDriver d = TwoGpus();
  absl::StatusOr<std::unique_ptr<Nvml>> nvml = Nvml::FromApi(d.Api(false));
  ASSERT_TRUE(nvml.ok());
  absl::StatusOr<NvmlSample> s = (*nvml)->Sample(0);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_DOUBLE_EQ(s->gpu_util_percent, 37);
  EXPECT_EQ(s->memory_used_mib, 1024);
  EXPECT_EQ(s->memory_free_mib, 80896);
  EXPECT_DOUBLE_EQ(s->temperature_c, 45);
  EXPECT_DOUBLE_EQ(s->power_w, 87.654);
  absl::StatusOr<NvmlSample> s1 = (*nvml)->Sample(1);
  ASSERT_TRUE(s1.ok());
  EXPECT_DOUBLE_EQ(s1->gpu_util_percent, 100);
}

TEST(NvmlTest, OptionalEntryPointsMayBeAbsent) {
  FakeDriver d = TwoGpus();
  NvmlApi api = d.Api(false);
  api.uuid = nullptr;
  api.power_mw = nullptr;
  api.error_string = nullptr;
  absl::StatusOr<std::unique_ptr<Nvml>> nvml = Nvml::FromApi(std::move(api));
  ASSERT_TRUE(nvml.ok());
  absl::StatusOr<NvmlDevice> g = (*nvml)->Describe(0);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->uuid, "");
  EXPECT_EQ(g->pci_bus_id, "0000:3b:00.0");
  absl::StatusOr<NvmlSample> s = (*nvml)->Sample(0);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->power_w, 0);
  // Without nvmlErrorString, an error still names the call and the code.
  d.fail["pci"] = 15;
  absl::StatusOr<NvmlDevice> bad = (*nvml)->Describe(0);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("nvmlDeviceGetPciInfo_v3"));
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("15"));
}

TEST(NvmlTest, ErrorsNameTheCallAndNvmlsMessage) {
  struct Case {
    std::string fail;
    bool sample;  // Sample rather than Describe
    std::string call;
  };
  const std::vector<Case> cases = {
      {"uuid", false, "nvmlDeviceGetUUID"},
      {"memory", false, "nvmlDeviceGetMemoryInfo"},
      {"pci", false, "nvmlDeviceGetPciInfo_v3"},
      {"memory", true, "nvmlDeviceGetMemoryInfo"},
      {"power", true, "nvmlDeviceGetPowerUsage"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.call);
    FakeDriver d = TwoGpus();
    absl::StatusOr<std::unique_ptr<Nvml>> nvml = Nvml::FromApi(d.Api(false));
    ASSERT_TRUE(nvml.ok());
    d.fail[c.fail] = 15;
    absl::Status st = c.sample ? (*nvml)->Sample(1).status() : (*nvml)->Describe(1).status();
    EXPECT_EQ(st.code(), absl::StatusCode::kInternal);
    EXPECT_THAT(std::string(st.message()), HasSubstr(c.call));
    EXPECT_THAT(std::string(st.message()), HasSubstr("GPU is lost"));
  }
  FakeDriver d = TwoGpus();
  absl::StatusOr<std::unique_ptr<Nvml>> nvml = Nvml::FromApi(d.Api(false));
  ASSERT_TRUE(nvml.ok());
  d.fail["count"] = 3;
  absl::Status st = (*nvml)->DeviceCount().status();
  EXPECT_THAT(std::string(st.message()), HasSubstr("nvmlDeviceGetCount_v2"));
  EXPECT_THAT(std::string(st.message()), HasSubstr("Not Supported"));
}

TEST(NvmlTest, PollXidMapsEventDevicesToIndices) {
  FakeDriver d = TwoGpus();
  absl::StatusOr<std::unique_ptr<Nvml>> nvml = Nvml::FromApi(d.Api(true));
  ASSERT_TRUE(nvml.ok());
  EXPECT_TRUE((*nvml)->PollXid().empty());
  EXPECT_EQ(d.registered, 2);  // every device registered once

  d.events.push_back({FakeDriver::HandleOf(1), kNvmlEventTypeXidCriticalError, 79, 0, 0});
  d.events.push_back({FakeDriver::HandleOf(0), 0x1 /* single-bit ECC: not an XID */, 0, 0, 0});
  d.events.push_back({FakeDriver::HandleOf(0), kNvmlEventTypeXidCriticalError, 48, 0, 0});
  d.events.push_back({reinterpret_cast<nvmlDevice_t>(0x9999), kNvmlEventTypeXidCriticalError, 13, 0, 0});
  std::vector<XidEvent> xids = (*nvml)->PollXid();
  ASSERT_EQ(xids.size(), 2u);
  EXPECT_EQ(xids[0].gpu, 1);
  EXPECT_EQ(xids[0].xid, 79u);
  EXPECT_EQ(xids[1].gpu, 0);
  EXPECT_EQ(xids[1].xid, 48u);
  EXPECT_TRUE(d.events.empty());
  EXPECT_TRUE((*nvml)->PollXid().empty());
  EXPECT_EQ(d.registered, 2);  // not registered again
}

TEST(NvmlTest, PollXidWithoutEventFunctionsReturnsNothing) {
  FakeDriver d = TwoGpus();
  absl::StatusOr<std::unique_ptr<Nvml>> nvml = Nvml::FromApi(d.Api(false));
  ASSERT_TRUE(nvml.ok());
  d.events.push_back({FakeDriver::HandleOf(1), kNvmlEventTypeXidCriticalError, 79, 0, 0});
  EXPECT_TRUE((*nvml)->PollXid().empty());
  EXPECT_EQ(d.events.size(), 1u);

  // Only some of the three: still nothing.
  NvmlApi partial = d.Api(true);
  partial.event_wait = nullptr;
  absl::StatusOr<std::unique_ptr<Nvml>> nvml2 = Nvml::FromApi(std::move(partial));
  ASSERT_TRUE(nvml2.ok());
  EXPECT_TRUE((*nvml2)->PollXid().empty());
  EXPECT_EQ(d.registered, 0);
}

TEST(NvmlTest, LoadWithoutALibraryIsNotFound) {
  absl::StatusOr<std::unique_ptr<Nvml>> nvml = Nvml::Load("/nonexistent/libnvidia-ml.so.1");
  EXPECT_EQ(nvml.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(nvml.status().message()), HasSubstr("/nonexistent/libnvidia-ml.so.1"));
}

TEST(NvmlTest, LoadOfALibraryWithoutNvmlIsInternal) {
  // libc has none of NVML's symbols.
  absl::StatusOr<std::unique_ptr<Nvml>> nvml = Nvml::Load("libc.so.6");
  EXPECT_EQ(nvml.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(nvml.status().message()), HasSubstr("nvmlInit_v2"));
}

TEST(NvmlTest, GfdModelName) {
  EXPECT_EQ(GfdModelName("NVIDIA A100-SXM4-80GB"), "NVIDIA-A100-SXM4-80GB");
  EXPECT_EQ(GfdModelName("  NVIDIA H100 80GB HBM3 \n"), "NVIDIA-H100-80GB-HBM3");
  EXPECT_EQ(GfdModelName("Tesla-T4"), "Tesla-T4");
  EXPECT_EQ(GfdModelName(""), "");
}

}  // namespace
}  // namespace gpusched::agent

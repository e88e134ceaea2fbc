// gpusched's device plugin end to end against a fake kubelet (test/fakes/fake_kubelet.h): real
// gRPC on Unix sockets in a temporary folder, the kubelet's admission sequence
// (GetPreferredAllocation, Allocate, PreStartContainer) and its pod resources API.

#include "agent/deviceplugin/device_plugin.h"

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "agent/deviceplugin/device_ids.h"
#include "agent/handoff/reservations.h"
#include "common/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/fakes/fake_kubelet.h"

// ThreadSanitizer suppressions for Debian's gRPC and Abseil: test/fakes/tsan_grpc.cc.

namespace gpusched::agent::deviceplugin {
namespace {

using ::gpusched::testing::AdmitResult;
using ::gpusched::testing::FakeKubelet;
using ::gpusched::testing::FakeKubeletOptions;
using ::testing::AllOf;
using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::SizeIs;

constexpr char kMilli[] = "gpusched.io/gpu-milli";
constexpr char kWhole[] = "nvidia.com/gpu";
const absl::Duration kWait = absl::Seconds(20);

// A manual clock several threads may read (the gRPC handlers call the book).
class ManualClock final : public Clock {
 public:
  absl::Time Now() const override {
    ReaderMutexLock l(&mu_);
    return now_;
  }
  TimerId ScheduleAfter(absl::Duration, Callback) override { return 1; }
  bool Cancel(TimerId) override { return false; }
  void Advance(absl::Duration d) {
    MutexLock l(&mu_);
    now_ += d;
  }

 private:
  mutable Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_) = absl::FromUnixSeconds(1'700'000'000);
};

const std::string kUuid[] = {"GPU-11111111-aaaa-4000-8000-000000000000",
                             "GPU-22222222-bbbb-4000-8000-000000000000",
                             "GPU-33333333-cccc-4000-8000-000000000000"};

std::vector<GpuRef> Gpus() {
  return {{0, kUuid[0], 16384, true}, {1, kUuid[1], 16384, true}, {2, kUuid[2], 16384, true}};
}

// The GPU a pod's IDs are on (the test's GPUs), or -1 when on several / none.
int GpuOfIds(const std::vector<std::string>& ids) {
  std::set<int> gpus;
  for (const std::string& id : ids) {
    for (int g = 0; g < 3; ++g) {
      if (id.rfind(kUuid[g], 0) == 0) gpus.insert(g);
    }
  }
  return gpus.size() == 1 ? *gpus.begin() : -1;
}

std::map<std::string, AllocationView> ByUid(const std::vector<AllocationView>& views) {
  std::map<std::string, AllocationView> out;
  for (const AllocationView& v : views) out.emplace(v.reservation.pod_uid, v);
  return out;
}

class DevicePluginTest : public ::testing::Test {
 protected:
  void StartAll(FakeKubeletOptions kubelet_options = {},
                std::function<void(DevicePluginOptions&)> tweak = nullptr) {
    kubelet_ = std::make_unique<FakeKubelet>(kubelet_options);
    ASSERT_TRUE(kubelet_->Start().ok());
    book_ = std::make_unique<ReservationBook>(Gpus(), clock_,
                                              ReservationBookOptions{.node_name = "node-1"});
    DevicePluginOptions o;
    o.node_name = "node-1";
    o.plugin_dir = kubelet_->plugin_dir();
    o.pod_resources_socket = kubelet_->pod_resources_socket();
    o.numa_nodes = {{0, 0}, {1, 0}, {2, 1}};
    o.kubelet_poll_interval = absl::Milliseconds(20);
    o.list_watch_poll_interval = absl::Milliseconds(50);
    o.reconcile_interval = absl::Hours(1);  // PreStartContainer and the tests trigger it
    o.release_grace = absl::Minutes(1);
    if (tweak) tweak(o);
    auto plugin = GpuDevicePlugin::Start(o, *book_);
    ASSERT_TRUE(plugin.ok()) << plugin.status();
    plugin_ = std::move(*plugin);
    ASSERT_TRUE(kubelet_->WaitForDevices(kMilli, 3000, kWait));
    ASSERT_TRUE(kubelet_->WaitForDevices(kWhole, 3, kWait));
  }

  void TearDown() override {
    if (plugin_) plugin_->Stop();
    if (kubelet_) kubelet_->Stop();
  }

  void Reserve(const std::string& uid, std::vector<ShareSpec> shares) {
    absl::Status s = book_->Reserve({uid, "ml", uid, std::move(shares)});
    ASSERT_TRUE(s.ok()) << s;
  }

  AllocationView ViewOf(const std::string& uid) {
    auto by = ByUid(book_->Snapshot());
    EXPECT_EQ(by.count(uid), 1u) << uid;
    return by.count(uid) ? by.at(uid) : AllocationView{};
  }

  ManualClock clock_;
  std::unique_ptr<FakeKubelet> kubelet_;
  std::unique_ptr<ReservationBook> book_;
  std::unique_ptr<GpuDevicePlugin> plugin_;
};

// ---------------------------------------------------------------------------------------------
// Registration and ListAndWatch.

TEST_F(DevicePluginTest, RegistersEachResourceWithItsOptions) {
  StartAll();
  for (const auto& [resource, endpoint] :
       {std::pair{kMilli, "gpusched-milli.sock"}, std::pair{kWhole, "gpusched-whole.sock"}}) {
    SCOPED_TRACE(resource);
    auto r = kubelet_->registration(resource);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->version, "v1beta1");
    EXPECT_EQ(r->endpoint, endpoint);
    EXPECT_TRUE(r->pre_start_required);
    EXPECT_TRUE(r->get_preferred_allocation_available);
  }
  EXPECT_EQ(kubelet_->registrations(), 2);
  EXPECT_TRUE(FakeKubelet::WaitFor([&] { return plugin_->registered(); }, kWait));
}

TEST_F(DevicePluginTest, ListAndWatchAdvertisesThousandIdsPerGpuWithNumaNodes) {
  StartAll();
  auto milli = kubelet_->Devices(kMilli);
  ASSERT_THAT(milli, SizeIs(3000));
  EXPECT_EQ(milli.at(MilliDeviceId(kUuid[0], 0)).health, "Healthy");
  EXPECT_THAT(milli.at(MilliDeviceId(kUuid[0], 999)).numa_nodes, ElementsAre(0));
  EXPECT_THAT(milli.at(MilliDeviceId(kUuid[2], 500)).numa_nodes, ElementsAre(1));
  EXPECT_EQ(milli.count(MilliDeviceId(kUuid[0], 1000)), 0u);
  auto whole = kubelet_->Devices(kWhole);
  ASSERT_THAT(whole, SizeIs(3));
  EXPECT_EQ(whole.at(kUuid[1]).health, "Healthy");
  EXPECT_THAT(whole.at(kUuid[2]).numa_nodes, ElementsAre(1));
}

TEST_F(DevicePluginTest, WholeGpusCanBeLeftToAnotherPlugin) {
  kubelet_ = std::make_unique<FakeKubelet>();
  ASSERT_TRUE(kubelet_->Start().ok());
  book_ = std::make_unique<ReservationBook>(Gpus(), clock_);
  DevicePluginOptions o;
  o.plugin_dir = kubelet_->plugin_dir();
  o.pod_resources_socket = "";
  o.whole_resource = "";
  o.kubelet_poll_interval = absl::Milliseconds(20);
  auto plugin = GpuDevicePlugin::Start(o, *book_);
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  plugin_ = std::move(*plugin);
  ASSERT_TRUE(kubelet_->WaitForDevices(kMilli, 3000, kWait));
  EXPECT_EQ(kubelet_->registrations(), 1);
  EXPECT_FALSE(kubelet_->registration(kWhole).has_value());
  EXPECT_EQ(plugin_->ReconcileNow().status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(DevicePluginTest, ListAndWatchResendsWhenAGpuChangesHealth) {
  StartAll();
  const int before = kubelet_->list_and_watch_messages(kMilli);
  auto gpus = Gpus();
  gpus[1].healthy = false;
  book_->SetGpus(gpus);
  plugin_->GpusChanged();
  auto unhealthy = [&](const std::string& resource) {
    int n = 0;
    for (const auto& [id, d] : kubelet_->Devices(resource)) n += d.health == "Unhealthy";
    return n;
  };
  ASSERT_TRUE(FakeKubelet::WaitFor([&] { return unhealthy(kMilli) == 1000; }, kWait));
  ASSERT_TRUE(FakeKubelet::WaitFor([&] { return unhealthy(kWhole) == 1; }, kWait));
  EXPECT_EQ(kubelet_->Devices(kMilli).at(MilliDeviceId(kUuid[1], 3)).health, "Unhealthy");
  EXPECT_EQ(kubelet_->Devices(kWhole).at(kUuid[1]).health, "Unhealthy");
  EXPECT_GT(kubelet_->list_and_watch_messages(kMilli), before);
  // Healthy again, without a nudge: the stream's poll sees the book change.
  book_->SetGpus(Gpus());
  ASSERT_TRUE(FakeKubelet::WaitFor([&] { return unhealthy(kMilli) == 0; }, kWait));
  // An unhealthy GPU's IDs are not offered, and its reservations cannot be allocated.
  Reserve("a", {{1, 100, 0}});
  book_->SetGpus(gpus);
  ASSERT_TRUE(FakeKubelet::WaitFor([&] { return unhealthy(kMilli) == 1000; }, kWait));
  auto got = kubelet_->Admit("ml", "a", kMilli, 100);
  EXPECT_FALSE(got.ok());
}

TEST_F(DevicePluginTest, RegistersAgainAfterTheKubeletRestarts) {
  StartAll();
  Reserve("before", {{0, 100, 0}});
  ASSERT_TRUE(kubelet_->Admit("ml", "before", kMilli, 100).ok());
  const int registrations = kubelet_->registrations();
  ASSERT_TRUE(kubelet_->Restart().ok());
  ASSERT_TRUE(FakeKubelet::WaitFor(
      [&] { return kubelet_->registrations() >= registrations + 2; }, kWait));
  ASSERT_TRUE(kubelet_->WaitForDevices(kMilli, 3000, kWait));
  ASSERT_TRUE(kubelet_->WaitForDevices(kWhole, 3, kWait));
  // The new connection works end to end, and the kubelet's checkpoint still holds GPU 0's IDs.
  Reserve("after", {{0, 900, 0}});
  auto got = kubelet_->Admit("ml", "after", kMilli, 900);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(GpuOfIds(got->device_ids), 0);
  // Twice.
  ASSERT_TRUE(kubelet_->Restart().ok());
  ASSERT_TRUE(FakeKubelet::WaitFor(
      [&] { return kubelet_->registrations() >= registrations + 4; }, kWait));
  EXPECT_TRUE(kubelet_->WaitForDevices(kMilli, 3000, kWait));
}

// ---------------------------------------------------------------------------------------------
// Admission: the reservations' shapes decide; no reservation, no GPU.

TEST_F(DevicePluginTest, PodsAdmittedInAnotherOrderGetTheirReservedGpus) {
  StartAll();
  Reserve("a", {{0, 250, 1000}});
  Reserve("b", {{1, 500, 2000}});
  Reserve("c", {{2, 1000, 16384}});
  Reserve("d", {{0, 100, 0}});
  // Admitted last-reserved first; each shape is unique, so each lands on its own reservation.
  auto d = kubelet_->Admit("ml", "d", kMilli, 100);
  ASSERT_TRUE(d.ok()) << d.status();
  auto c = kubelet_->Admit("ml", "c", kWhole, 1);
  ASSERT_TRUE(c.ok()) << c.status();
  auto b = kubelet_->Admit("ml", "b", kMilli, 500);
  ASSERT_TRUE(b.ok()) << b.status();
  auto a = kubelet_->Admit("ml", "a", kMilli, 250);
  ASSERT_TRUE(a.ok()) << a.status();

  for (const AdmitResult* r : {&*a, &*b, &*c, &*d}) EXPECT_TRUE(r->used_preferred);
  EXPECT_EQ(GpuOfIds(a->device_ids), 0);
  EXPECT_EQ(GpuOfIds(b->device_ids), 1);
  EXPECT_THAT(c->device_ids, ElementsAre(kUuid[2]));
  EXPECT_EQ(GpuOfIds(d->device_ids), 0);
  EXPECT_THAT(a->device_ids, SizeIs(250));

  EXPECT_THAT(a->envs, AllOf(::testing::Contains(Pair("NVIDIA_VISIBLE_DEVICES", kUuid[0])),
                             ::testing::Contains(Pair("GPUSCHED_GPU_MILLI", "250")),
                             ::testing::Contains(Pair("CUDA_DEVICE_MEMORY_LIMIT", "1000m")),
                             ::testing::Contains(Pair("GPUSCHED_MEMORY_LIMIT_MIB", "1000")),
                             ::testing::Contains(Pair("GPUSCHED_POD_UID", "a"))));
  EXPECT_THAT(a->annotations, ::testing::Contains(Pair("gpusched.io/allocated-gpus", "0")));
  EXPECT_THAT(b->envs, ::testing::Contains(Pair("CUDA_DEVICE_MEMORY_LIMIT", "2000m")));
  EXPECT_THAT(c->envs, AllOf(::testing::Contains(Pair("NVIDIA_VISIBLE_DEVICES", kUuid[2])),
                             ::testing::Contains(Pair("GPUSCHED_POD_UID", "c"))));
  EXPECT_EQ(c->envs.count("GPUSCHED_GPU_MILLI"), 0u);
  // A compute-only share gets no memory limit.
  EXPECT_EQ(d->envs.count("CUDA_DEVICE_MEMORY_LIMIT"), 0u);
  EXPECT_TRUE(c->cdi_devices.empty());

  auto report = plugin_->ReconcileNow();
  ASSERT_TRUE(report.ok()) << report.status();
  for (const AllocationView& v : book_->Snapshot()) {
    SCOPED_TRACE(v.reservation.pod_uid);
    EXPECT_EQ(v.state, AllocState::kConfirmed);
  }
  EXPECT_THAT(ViewOf("b").reservation.shares, ElementsAre(ShareSpec{1, 500, 2000}));
  EXPECT_GE(kubelet_->pre_start_calls(), 4);
}

TEST_F(DevicePluginTest, SwappedSameShapePodsEndWithTheMappingTheyReallyHold) {
  StartAll();
  // Same milli, same memory: only GPUs tell them apart. "a" reserved first.
  Reserve("a", {{0, 250, 4096}});
  Reserve("b", {{1, 250, 4096}});
  // The kubelet admits b first. Nothing says which pod asks; the oldest reservation (a's, GPU 0)
  // is the preferred allocation.
  auto b = kubelet_->Admit("ml", "b", kMilli, 250);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(GpuOfIds(b->device_ids), 0);
  EXPECT_EQ(b->envs.at("GPUSCHED_POD_UID"), "a");  // provisional, as documented
  // PreStartContainer triggered a PodResources reconcile: b holds GPU 0, a now waits on GPU 1.
  ASSERT_TRUE(FakeKubelet::WaitFor(
      [&] {
        auto by = ByUid(book_->Snapshot());
        return by.count("b") && by.at("b").state == AllocState::kConfirmed;
      },
      kWait));
  EXPECT_THAT(ViewOf("b").reservation.shares, ElementsAre(ShareSpec{0, 250, 4096}));
  EXPECT_EQ(ViewOf("a").state, AllocState::kReserved);
  EXPECT_THAT(ViewOf("a").reservation.shares, ElementsAre(ShareSpec{1, 250, 4096}));

  auto a = kubelet_->Admit("ml", "a", kMilli, 250);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(GpuOfIds(a->device_ids), 1);
  EXPECT_EQ(a->envs.at("GPUSCHED_POD_UID"), "a");
  ASSERT_TRUE(plugin_->ReconcileNow().ok());
  // The final mapping is what each pod holds in the kubelet.
  for (const std::string pod : {"a", "b"}) {
    SCOPED_TRACE(pod);
    AllocationView v = ViewOf(pod);
    EXPECT_EQ(v.state, AllocState::kConfirmed);
    ASSERT_THAT(v.reservation.shares, SizeIs(1));
    EXPECT_EQ(v.reservation.shares[0].gpu, GpuOfIds(kubelet_->PodDevices("ml", pod).at(kMilli)));
  }
}

TEST_F(DevicePluginTest, BothSwappedBeforeAnyReconcileEndCorrectToo) {
  // No pod resources during admission (the kubelet's socket is elsewhere), then a reconcile.
  std::string real_socket;
  StartAll({}, [&](DevicePluginOptions& o) {
    real_socket = o.pod_resources_socket;
    o.pod_resources_socket = o.plugin_dir + "/missing.sock";
  });
  Reserve("a", {{0, 500, 100}});
  Reserve("b", {{2, 500, 200}});
  auto b = kubelet_->Admit("ml", "b", kMilli, 500);
  ASSERT_TRUE(b.ok()) << b.status();
  auto a = kubelet_->Admit("ml", "a", kMilli, 500);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(GpuOfIds(b->device_ids), 0);  // a's reservation
  EXPECT_EQ(GpuOfIds(a->device_ids), 2);  // b's reservation
  EXPECT_EQ(plugin_->ReconcileNow().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ViewOf("a").state, AllocState::kAllocated);  // a failed List changes nothing

  plugin_->Stop();
  DevicePluginOptions o;
  o.plugin_dir = kubelet_->plugin_dir();
  o.pod_resources_socket = real_socket;
  o.kubelet_poll_interval = absl::Milliseconds(20);
  auto plugin = GpuDevicePlugin::Start(o, *book_);
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  plugin_ = std::move(*plugin);
  auto report = plugin_->ReconcileNow();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->swapped + report->confirmed, 2);
  EXPECT_THAT(ViewOf("a").reservation.shares, ElementsAre(ShareSpec{2, 500, 200}));
  EXPECT_THAT(ViewOf("b").reservation.shares, ElementsAre(ShareSpec{0, 500, 100}));
  EXPECT_EQ(ViewOf("a").state, AllocState::kConfirmed);
  EXPECT_EQ(ViewOf("b").state, AllocState::kConfirmed);
}

TEST_F(DevicePluginTest, ARequestWithoutAReservationIsRefusedWithAClearError) {
  StartAll();
  auto got = kubelet_->Admit("ml", "stray", kMilli, 300);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(got.status().message(),
              HasSubstr(absl::StrCat("no gpusched reservation on node node-1 for 300 ",
                                     "gpusched.io/gpu-milli on GPU 0 (", kUuid[0],
                                     "): was the pod scheduled by gpusched-extender?")));
  EXPECT_THAT(kubelet_->PodDevices("ml", "stray"), IsEmpty());
  got = kubelet_->Admit("ml", "stray", kWhole, 2);
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(got.status().message(), HasSubstr("for 2 nvidia.com/gpu on GPU 0"));
  // A reservation of another size does not change that.
  Reserve("a", {{1, 200, 0}});
  EXPECT_EQ(kubelet_->Admit("ml", "stray", kMilli, 300).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(kubelet_->Admit("ml", "a", kMilli, 200).ok());
}

TEST_F(DevicePluginTest, AKubeletThatIgnoresThePreferenceIsRefusedNotMisplaced) {
  StartAll({.honour_preferred = false, .pick_from_end = true});
  Reserve("a", {{0, 400, 0}});
  auto got = kubelet_->Admit("ml", "a", kMilli, 400);  // the kubelet picks GPU 2's IDs
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(got.status().message(), HasSubstr("on GPU 2"));
  EXPECT_THAT(got.status().message(), HasSubstr("reservations of this size wait for ml/a on GPU 0"));
  EXPECT_EQ(ViewOf("a").state, AllocState::kReserved);
}

TEST_F(DevicePluginTest, NoGpuIsEverOverCapacity) {
  StartAll();
  // Fill the node from the book's side (the extender's Reserve), whole GPUs and shares mixed.
  struct Pod {
    std::string uid;
    std::vector<ShareSpec> shares;
    const char* resource;
    int count;
  };
  const std::vector<Pod> pods = {
      {"w2", {{2, 1000, 16384}}, kWhole, 1},    {"s0a", {{0, 600, 8000}}, kMilli, 600},
      {"s0b", {{0, 300, 8000}}, kMilli, 300},   {"s1a", {{1, 999, 100}}, kMilli, 999},
      {"s0c", {{0, 100, 384}}, kMilli, 100},    {"s1b", {{1, 1, 100}}, kMilli, 1},
  };
  for (const Pod& p : pods) Reserve(p.uid, p.shares);
  // Nothing more fits anywhere, whatever the resource.
  EXPECT_EQ(book_->Reserve({"more", "ml", "more", {{0, 1, 0}}}).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(book_->Reserve({"more", "ml", "more", {{2, 1, 0}}}).code(),
            absl::StatusCode::kFailedPrecondition);

  auto check = [&] {
    // Per GPU, what the kubelet handed out (IDs) and what the containers were told (memory).
    std::map<int, int> milli;
    for (const AllocationView& v : book_->Snapshot()) {
      for (const ShareSpec& s : v.reservation.shares) milli[s.gpu] += s.milli;
    }
    for (const auto& [gpu, m] : milli) EXPECT_LE(m, 1000) << "GPU " << gpu;
    std::map<int, int> handed;
    for (const Pod& p : pods) {
      auto devices = kubelet_->PodDevices("ml", p.uid);
      for (const auto& [resource, ids] : devices) {
        const int gpu = GpuOfIds(ids);
        handed[gpu] += resource == kWhole ? 1000 * static_cast<int>(ids.size())
                                          : static_cast<int>(ids.size());
      }
    }
    for (const auto& [gpu, m] : handed) EXPECT_LE(m, 1000) << "GPU " << gpu;
  };
  // Admit in reverse, with strays asking for what is left of each resource in between.
  int64_t memory_told[3] = {0, 0, 0};
  for (auto it = pods.rbegin(); it != pods.rend(); ++it) {
    auto got = kubelet_->Admit("ml", it->uid, it->resource, it->count);
    ASSERT_TRUE(got.ok()) << it->uid << ": " << got.status();
    const int gpu = it->resource == kWhole ? 2 : GpuOfIds(got->device_ids);
    EXPECT_EQ(gpu, it->shares[0].gpu) << it->uid;
    if (got->envs.count("GPUSCHED_MEMORY_LIMIT_MIB")) {
      memory_told[gpu] += std::stoll(got->envs.at("GPUSCHED_MEMORY_LIMIT_MIB"));
    }
    // Strays of shapes no reservation has (one of a reserved shape would take that reservation:
    // see StrayOfAReservedShapeTakesItsPlace).
    EXPECT_FALSE(kubelet_->Admit("ml", "stray-milli", kMilli, 7).ok());
    EXPECT_FALSE(kubelet_->Admit("ml", "stray-whole", kWhole, 2).ok());
    check();
  }
  for (int g = 0; g < 3; ++g) EXPECT_LE(memory_told[g], 16384) << "GPU " << g;
  // The kubelet itself has nothing left of the shared GPUs' IDs except what strays may not use.
  EXPECT_THAT(kubelet_->PodDevices("ml", "stray-milli"), IsEmpty());
  EXPECT_THAT(kubelet_->PodDevices("ml", "stray-whole"), IsEmpty());
  // A whole GPU 0 for a stray is impossible even though the kubelet still offers its ID.
  auto whole0 = kubelet_->AllocateExact("ml", "stray-whole", kWhole, {kUuid[0]});
  EXPECT_EQ(whole0.status().code(), absl::StatusCode::kFailedPrecondition);
  check();
}

TEST_F(DevicePluginTest, StrayOfAReservedShapeTakesItsPlaceAndReconcileSaysSo) {
  // The API's limit: a pod gpusched did not schedule, asking for exactly a pending reservation's
  // shape, is indistinguishable at Allocate. PodResources then tells, and the book records the
  // stray as the holder; the reserved pod's own admission is refused, nothing is over capacity.
  StartAll();
  Reserve("a", {{1, 300, 512}});
  auto stray = kubelet_->Admit("other", "stray", kMilli, 300);
  ASSERT_TRUE(stray.ok()) << stray.status();
  EXPECT_EQ(GpuOfIds(stray->device_ids), 1);
  // (PreStartContainer may have triggered the reconcile already; the outcome is the same.)
  ASSERT_TRUE(plugin_->ReconcileNow().ok());
  auto snap = book_->Snapshot();
  ASSERT_THAT(snap, SizeIs(1));
  EXPECT_EQ(snap[0].reservation.pod_uid, "");
  EXPECT_EQ(snap[0].reservation.pod_namespace, "other");
  EXPECT_EQ(snap[0].reservation.pod_name, "stray");
  EXPECT_EQ(snap[0].state, AllocState::kConfirmed);
  EXPECT_THAT(snap[0].reservation.shares, ElementsAre(ShareSpec{1, 300, 512}));
  EXPECT_EQ(kubelet_->Admit("ml", "a", kMilli, 300).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(DevicePluginTest, MalformedAllocateRequestsAreRejectedWithoutHarm) {
  StartAll();
  Reserve("a", {{1, 4, 0}});
  struct Case {
    std::string name;
    const char* resource;
    std::vector<std::string> ids;
    absl::StatusCode code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"unknown id", kMilli, {"GPU-nope-m0001"}, absl::StatusCode::kInvalidArgument,
       "\"GPU-nope-m0001\" is not a milli-GPU device of this node"},
      {"mixed gpus", kMilli,
       {MilliDeviceId(kUuid[0], 0), MilliDeviceId(kUuid[0], 1), MilliDeviceId(kUuid[1], 0),
        MilliDeviceId(kUuid[1], 1)},
       absl::StatusCode::kInvalidArgument, "takes all its IDs from one GPU"},
      {"duplicate ids", kMilli,
       {MilliDeviceId(kUuid[1], 0), MilliDeviceId(kUuid[1], 0), MilliDeviceId(kUuid[1], 1),
        MilliDeviceId(kUuid[1], 2)},
       absl::StatusCode::kInvalidArgument, "appears more than once"},
      {"milli id on the whole resource", kWhole, {MilliDeviceId(kUuid[1], 0)},
       absl::StatusCode::kInvalidArgument, "is not a whole-GPU device"},
      {"empty", kMilli, {}, absl::StatusCode::kInvalidArgument, "devices_ids: empty"},
      {"right GPU, wrong size", kMilli,
       {MilliDeviceId(kUuid[1], 0), MilliDeviceId(kUuid[1], 1)},
       absl::StatusCode::kFailedPrecondition, "no gpusched reservation"},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    auto got = kubelet_->AllocateExact("ml", "bad", tc.resource, tc.ids);
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.status().code(), tc.code);
    EXPECT_THAT(got.status().message(), HasSubstr(tc.message));
  }
  EXPECT_THAT(kubelet_->PodDevices("ml", "bad"), IsEmpty());
  EXPECT_EQ(ViewOf("a").state, AllocState::kReserved);
  // The next well-formed request is served as if nothing had happened.
  auto got = kubelet_->Admit("ml", "a", kMilli, 4);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(GpuOfIds(got->device_ids), 1);
  EXPECT_NE(ViewOf("a").state, AllocState::kReserved);  // allocated, or confirmed already
}

TEST_F(DevicePluginTest, PodsGoneFromPodResourcesAreReleasedAfterTheGrace) {
  StartAll();
  Reserve("a", {{0, 1000, 0}});
  ASSERT_TRUE(kubelet_->Admit("ml", "a", kMilli, 1000).ok());
  ASSERT_TRUE(plugin_->ReconcileNow().ok());
  EXPECT_EQ(ViewOf("a").state, AllocState::kConfirmed);
  kubelet_->Remove("ml", "a");
  ASSERT_TRUE(plugin_->ReconcileNow().ok());
  EXPECT_THAT(book_->Snapshot(), SizeIs(1));  // not yet: the grace
  EXPECT_EQ(book_->Reserve({"b", "ml", "b", {{0, 1, 0}}}).code(),
            absl::StatusCode::kFailedPrecondition);
  clock_.Advance(absl::Minutes(1));
  // (The reconcile PreStartContainer asked for may run in between; either releases it.)
  ASSERT_TRUE(plugin_->ReconcileNow().ok());
  EXPECT_THAT(book_->Snapshot(), IsEmpty());
  Reserve("b", {{0, 1000, 0}});
  EXPECT_TRUE(kubelet_->Admit("ml", "b", kMilli, 1000).ok());
}

TEST_F(DevicePluginTest, CdiDeviceNamesWhenConfigured) {
  StartAll({}, [](DevicePluginOptions& o) { o.cdi_devices = true; });
  Reserve("a", {{1, 1000, 0}, {2, 1000, 0}});
  auto got = kubelet_->Admit("ml", "a", kWhole, 2);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_THAT(got->device_ids, ElementsAre(kUuid[1], kUuid[2]));
  EXPECT_THAT(got->cdi_devices, ElementsAre("nvidia.com/gpu=1", "nvidia.com/gpu=2"));
  EXPECT_EQ(got->envs.at("NVIDIA_VISIBLE_DEVICES"), kUuid[1] + "," + kUuid[2]);
}

TEST(DevicePluginOptionsTest, ValidationNamesTheField) {
  DevicePluginOptions o;
  EXPECT_TRUE(ValidateDevicePluginOptions(o).ok());
  o.milli_resource = "gpu-milli";
  EXPECT_THAT(ValidateDevicePluginOptions(o).message(), HasSubstr("milli_resource"));
  o = {};
  o.whole_resource = o.milli_resource;
  EXPECT_THAT(ValidateDevicePluginOptions(o).message(), HasSubstr("whole_resource"));
  o = {};
  o.reconcile_interval = absl::ZeroDuration();
  EXPECT_THAT(ValidateDevicePluginOptions(o).message(), HasSubstr("reconcile_interval"));
  o = {};
  o.socket_prefix = "a/b";
  EXPECT_THAT(ValidateDevicePluginOptions(o).message(), HasSubstr("socket_prefix"));
}

}  // namespace
}  // namespace gpusched::agent::deviceplugin

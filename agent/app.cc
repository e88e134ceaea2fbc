#include "agent/app.h"

#include <cstdio>
#include <cstdlib>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "agent/deviceplugin/device_plugin.h"
#include "agent/handoff/reservations.h"
#include "agent/inventory.h"
#include "agent/node_state.h"
#include "agent/nvml.h"
#include "agent/service.h"
#include "common/file.h"
#include "common/http/http.h"
#include "common/log.h"
#include "common/mutex.h"
#include "common/metrics/prometheus_metrics.h"
#include "common/real_clock.h"
#include "common/status_macros.h"

namespace gpusched::agent {
namespace {

std::string NewIncarnation() {
  std::random_device rd;
  return absl::StrFormat("%08x%08x", rd(), rd());
}

// `nvidia-smi topo -m`, or "" when it cannot run (no driver tools in the image).
std::string RunNvidiaSmiTopo() {
  FILE* p = popen("nvidia-smi topo -m 2>/dev/null", "r");
  if (p == nullptr) return "";
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0 && out.size() < (4u << 20)) out.append(buf, n);
  const int rc = pclose(p);
  return rc == 0 ? out : "";
}

pb::Allocation::State ToProto(AllocState s) {
  switch (s) {
    case AllocState::kAllocated: return pb::Allocation::ALLOCATED;
    case AllocState::kConfirmed: return pb::Allocation::CONFIRMED;
    case AllocState::kReserved: break;
  }
  return pb::Allocation::RESERVED;
}

class App final : public AgentApp {
 public:
  ~App() override { Stop(); }

  absl::Status Init(const AgentConfig& c) {
    config_ = c;
    ASSIGN_OR_RETURN(log::Level level, log::ParseLevel(c.log_level));
    logger_ = std::make_unique<log::Logger>(log::Options{.level = level, .json = c.log_json});

    // Discovery.
    if (!c.fake_preset.empty()) {
      ASSIGN_OR_RETURN(inventory_, FakeInventory(c.node_name, c.fake_preset));
      std::vector<double> loads = c.fake_load;
      if (loads.size() == 1) loads.assign(inventory_.gpus.size(), loads[0]);
      ASSIGN_OR_RETURN(kernels::FakeSpec spec, FakeProbeSpec(inventory_, loads, c.seed));
      ASSIGN_OR_RETURN(std::unique_ptr<kernels::FakeBackend> fake, kernels::NewFakeBackend(std::move(spec)));
      fake_ = fake.get();
      backend_ = std::move(fake);
    } else {
      // Same GPU order in CUDA, NVML and nvidia-smi (inventory.h).
      setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID", 1);
      backend_ = kernels::NewCudaBackend();
      absl::StatusOr<std::unique_ptr<Nvml>> nvml = Nvml::Load();
      if (nvml.ok()) {
        nvml_ = *std::move(nvml);
      } else {
        logger_->Warn("NVML unavailable: no UUIDs, usage, temperature, power or XID health",
                      {{"error", MessageOf(nvml.status())}});
      }
      std::string topo;
      if (!c.topo_file.empty()) {
        ASSIGN_OR_RETURN(topo, ReadSmallFile(c.topo_file));
      } else {
        topo = RunNvidiaSmiTopo();
      }
      ASSIGN_OR_RETURN(inventory_, DiscoverInventory(*backend_, nvml_.get(), topo));
      if (inventory_.gpus.empty()) logger_->Warn("no GPU found on this node; serving an empty inventory");
    }

    state_ = std::make_unique<AgentState>(c.node_name, inventory_, NewIncarnation(), clock_, c.heartbeat);
    std::vector<GpuRef> refs;
    for (const GpuInventory& g : inventory_.gpus) refs.push_back(GpuRef{g.index, g.uuid, g.memory_mib, true});
    book_ = std::make_unique<ReservationBook>(
        refs, clock_,
        ReservationBookOptions{.reserved_ttl = c.reserved_ttl,
                               .on_change = [this] { PublishAllocations(); },
                               .node_name = c.node_name});
    service_ = std::make_unique<NodeAgentService>(*state_, *book_, logger_.get());
    ASSIGN_OR_RETURN(server_, AgentServer::Start(AgentServerOptions{.address = c.listen,
                                                                     .cert_file = c.tls_cert,
                                                                     .key_file = c.tls_key,
                                                                     .client_ca_file = c.tls_client_ca},
                                                  service_.get()));
    if (!c.metrics_listen.empty()) {
      // HOST:PORT, the port after the last colon; an IPv6 host in brackets ("[::]:9445").
      const size_t colon = c.metrics_listen.rfind(':');
      std::string host = colon == std::string::npos ? "" : c.metrics_listen.substr(0, colon);
      if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
      int port = 0;
      if (colon == std::string::npos || !absl::SimpleAtoi(c.metrics_listen.substr(colon + 1), &port) ||
          port < 0 || port > 65535) {
        return absl::InvalidArgumentError(absl::StrCat("metrics address \"", c.metrics_listen,
                                                       "\" is not HOST:PORT"));
      }
      ASSIGN_OR_RETURN(http_, http::Server::Start(
                                  http::ServerOptions{.host = host,
                                                      .port = static_cast<uint16_t>(port),
                                                      .threads = 1,
                                                      .logger = logger_.get()},
                                  [this](const http::Request& r) { return Serve(r); }));
    }

    if (!c.device_plugin_dir.empty()) {
      deviceplugin::DevicePluginOptions dp;
      dp.node_name = c.node_name;
      dp.plugin_dir = c.device_plugin_dir;
      dp.pod_resources_socket = c.pod_resources_socket;
      dp.whole_resource = c.whole_gpu_resource;
      dp.reconcile_interval = c.reconcile_every;
      dp.logger = logger_.get();
      for (const GpuInventory& g : inventory_.gpus) {
        if (g.numa >= 0) dp.numa_nodes[g.index] = g.numa;
      }
      ASSIGN_OR_RETURN(plugin_, deviceplugin::GpuDevicePlugin::Start(std::move(dp), *book_));
    }
    if (c.probes && !inventory_.gpus.empty()) {
      ProberOptions po = c.probe;
      if (po.reference_gflops.empty()) {
        for (const GpuInventory& g : inventory_.gpus) po.reference_gflops.push_back(g.peak_gflops);
      }
      prober_ = std::make_unique<Prober>(
          *backend_, static_cast<int>(inventory_.gpus.size()), clock_, po,
          [this](int gpu, const pb::Probe& p) { state_->SetProbe(gpu, p); }, logger_.get());
      prober_->Start();
    }
    ScheduleHeartbeat();
    ScheduleSample(absl::ZeroDuration());
    logger_->Info("gpusched-agent serving",
                  {{"node", c.node_name},
                   {"discovery", inventory_.discovery},
                   {"gpus", absl::StrCat(inventory_.gpus.size())},
                   {"grpc", absl::StrCat(c.listen.substr(0, c.listen.rfind(':')), ":", server_->port())},
                   {"tls", c.tls_cert.empty() ? "off" : (c.tls_client_ca.empty() ? "on" : "mutual")},
                   {"metrics", http_ ? absl::StrCat(c.metrics_listen.substr(0, c.metrics_listen.rfind(':')), ":", http_->port())
                                     : std::string("off")}});
    return absl::OkStatus();
  }

  int grpc_port() const override { return server_ ? server_->port() : 0; }
  int metrics_port() const override { return http_ ? http_->port() : 0; }

  absl::Status SetFakeLoad(int gpu, double load) override {
    if (fake_ == nullptr) return absl::FailedPreconditionError("not a fake agent (--fake PRESET)");
    return fake_->SetLoad(gpu, load);
  }

  void SetGpuHealth(int gpu, bool healthy, const std::string& reason) override {
    state_->SetHealth(gpu, healthy, reason);
    std::vector<GpuRef> refs = book_->Gpus();
    if (gpu >= 0 && gpu < static_cast<int>(refs.size())) {
      refs[gpu].healthy = healthy;
      book_->SetGpus(std::move(refs));
      if (plugin_) plugin_->GpusChanged();
    }
  }

  void Stop() override {
    {
      MutexLock l(&timers_mu_);
      stopping_ = true;
      if (heartbeat_timer_ != 0) clock_.Cancel(heartbeat_timer_);
      if (sample_timer_ != 0) clock_.Cancel(sample_timer_);
      // Cancel does not wait for a callback already running on the clock's thread; it must be
      // done before the parts it uses are stopped or destroyed.
      while (callbacks_running_ > 0) callbacks_done_.Wait(&timers_mu_);
    }
    if (prober_) prober_->Stop();
    if (plugin_) plugin_->Stop();
    if (state_) state_->Shutdown();
    if (server_) server_->Stop();
    if (http_) http_->Stop();
  }

  std::string MetricsText() override {
    UpdateMetrics();
    return metrics_.Serialize();
  }

 private:
  http::Response Serve(const http::Request& r) {
    if (r.method == "GET" && r.target == "/metrics") {
      return http::Response{.status = 200,
                            .content_type = "text/plain; version=0.0.4; charset=utf-8",
                            .body = MetricsText()};
    }
    if (r.method == "GET" && (r.target == "/healthz" || r.target == "/readyz")) {
      return http::Response{.status = 200, .content_type = "text/plain", .body = "ok\n"};
    }
    return http::Response{.status = 404, .content_type = "text/plain", .body = "not found\n"};
  }

  void PublishAllocations() {
    // on_change may run on several threads at once: without this lock, one that took its
    // snapshot earlier could publish it over a newer one, and the stream would keep showing a
    // released (or miss a new) reservation until the book's next change.
    MutexLock publish(&publish_mu_);
    std::vector<pb::Allocation> out;
    for (const AllocationView& v : book_->Snapshot()) {
      pb::Allocation a;
      a.set_pod_uid(v.reservation.pod_uid);
      a.set_pod_namespace(v.reservation.pod_namespace);
      a.set_pod_name(v.reservation.pod_name);
      a.set_state(ToProto(v.state));
      for (const ShareSpec& s : v.reservation.shares) {
        pb::Share* p = a.add_shares();
        p->set_gpu(s.gpu);
        p->set_milli(s.milli);
        p->set_memory_mib(s.memory_mib);
      }
      out.push_back(std::move(a));
    }
    state_->SetAllocations(std::move(out));
  }

  // A timer callback starts unless the app is stopping; Stop waits for those that started.
  bool EnterCallback() {
    MutexLock l(&timers_mu_);
    if (stopping_) return false;
    ++callbacks_running_;
    return true;
  }
  void LeaveCallback() {
    MutexLock l(&timers_mu_);
    --callbacks_running_;
    callbacks_done_.SignalAll();
  }

  void ScheduleHeartbeat() {
    MutexLock l(&timers_mu_);
    if (stopping_) return;
    heartbeat_timer_ = clock_.ScheduleAfter(config_.heartbeat, [this] {
      if (!EnterCallback()) return;
      state_->Heartbeat();
      book_->ExpireReservations();
      ScheduleHeartbeat();
      LeaveCallback();
    });
  }

  // NVML usage and XID health; fake GPUs report usage from their load.
  void ScheduleSample(absl::Duration delay) {
    MutexLock l(&timers_mu_);
    if (stopping_) return;
    sample_timer_ = clock_.ScheduleAfter(delay, [this] {
      if (!EnterCallback()) return;
      Sample();
      ScheduleSample(config_.sample_every);
      LeaveCallback();
    });
  }

  void Sample() {
    for (const GpuInventory& g : inventory_.gpus) {
      pb::Usage u;
      if (nvml_) {
        absl::StatusOr<NvmlSample> s = nvml_->Sample(g.index);
        if (!s.ok()) continue;
        u.set_gpu_util_percent(s->gpu_util_percent);
        u.set_memory_used_mib(s->memory_used_mib);
        u.set_memory_free_mib(s->memory_free_mib);
        u.set_temperature_c(s->temperature_c);
        u.set_power_w(s->power_w);
      } else if (fake_ != nullptr) {
        const double load = fake_->GetLoad(g.index).value_or(0);
        u.set_gpu_util_percent(100 * load);
        u.set_memory_used_mib(static_cast<int64_t>(load * g.memory_mib));
        u.set_memory_free_mib(g.memory_mib - u.memory_used_mib());
        u.set_temperature_c(35 + 40 * load);
        u.set_power_w(60 + 300 * load);
      } else {
        continue;
      }
      state_->SetUsage(g.index, u);
    }
    if (nvml_) {
      for (const XidEvent& e : nvml_->PollXid()) {
        logger_->Error("GPU XID error", {{"gpu", absl::StrCat(e.gpu)}, {"xid", absl::StrCat(e.xid)}});
        // 48 (double-bit ECC), 79 (fallen off the bus), 94/95 (contained/uncontained ECC) make
        // the device unusable until reset; application XIDs (13, 31, 43) do not.
        if (e.xid == 48 || e.xid == 79 || e.xid == 94 || e.xid == 95) {
          SetGpuHealth(e.gpu, false, absl::StrCat("XID ", e.xid));
        }
        MutexLock l(&timers_mu_);
        last_xid_[e.gpu] = e.xid;
      }
    }
  }

  void UpdateMetrics() {
    const pb::NodeState s = state_->Current();
    std::map<int, uint64_t> xids;
    {
      MutexLock l(&timers_mu_);
      xids = last_xid_;
    }
    for (const pb::Gpu& g : s.gpus()) {
      const metrics::Labels labels = {{"gpu", absl::StrCat(g.index())},
                                      {"UUID", g.uuid()},
                                      {"pci_bus_id", g.pci_bus_id()},
                                      {"modelName", g.model()},
                                      {"Hostname", s.node_name()}};
      if (g.has_usage()) {
        const pb::Usage& u = g.usage();
        metrics_.GetGauge("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", labels).Set(u.gpu_util_percent());
        metrics_.GetGauge("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).", labels).Set(u.memory_used_mib());
        metrics_.GetGauge("DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB).", labels).Set(u.memory_free_mib());
        metrics_.GetGauge("DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C).", labels).Set(u.temperature_c());
        metrics_.GetGauge("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W).", labels).Set(u.power_w());
        metrics_.GetGauge("DCGM_FI_DEV_XID_ERRORS", "Value of the last XID error encountered.", labels)
            .Set(static_cast<double>(xids.count(g.index()) ? xids[g.index()] : 0));
      }
      metrics_.GetGauge("gpusched_agent_gpu_healthy", "1 when the GPU takes new pods.", labels).Set(g.healthy() ? 1 : 0);
      if (g.has_probe()) {
        const pb::Probe& p = g.probe();
        metrics_.GetGauge("gpusched_agent_probe_headroom",
                          "Share of the GPU's throughput its tenants can still get (probes).", labels)
            .Set(p.headroom());
        metrics_.GetGauge("gpusched_agent_probe_available_sm_ratio",
                          "Share of SMs the probe kernel reached.", labels)
            .Set(p.available_sm_fraction());
        metrics_.GetGauge("gpusched_agent_probe_throughput_gflops", "Probe kernel throughput.", labels)
            .Set(p.throughput_gflops());
        metrics_.GetGauge("gpusched_agent_probe_duration_seconds", "How long the last probe held the GPU.", labels)
            .Set(p.duration_us() / 1e6);
        metrics_.GetGauge("gpusched_agent_probe_device_to_device_gbps", "Device copy bandwidth (GB/s).", labels)
            .Set(p.device_to_device_gbps());
      }
    }
    if (prober_) {
      metrics_.GetGauge("gpusched_agent_probe_overhead_ratio",
                        "Largest share of one GPU's time spent probing since start.", {})
          .Set(prober_->overhead());
      metrics_.GetGauge("gpusched_agent_probe_rounds", "Probe rounds run.", {}).Set(prober_->rounds());
      metrics_.GetGauge("gpusched_agent_probe_failures", "Probes that failed.", {}).Set(prober_->failures());
    }
    std::map<std::string, int> states = {{"reserved", 0}, {"allocated", 0}, {"confirmed", 0}};
    for (const pb::Allocation& a : s.allocations()) {
      states[a.state() == pb::Allocation::RESERVED    ? "reserved"
             : a.state() == pb::Allocation::ALLOCATED ? "allocated"
                                                      : "confirmed"]++;
    }
    for (const auto& [state, n] : states) {
      metrics_.GetGauge("gpusched_agent_reservations", "Reservation book entries by state.", {{"state", state}}).Set(n);
    }
    metrics_.GetGauge("gpusched_agent_stream_subscribers", "Open Watch streams.", {}).Set(service_->watchers());
    metrics_.GetGauge("gpusched_agent_state_sequence", "Sequence number of the latest NodeState.", {}).Set(s.sequence());
    metrics_.GetGauge("gpusched_agent_reserve_requests", "Reserve calls by result.", {{"result", "ok"}})
        .Set(service_->reserves_ok());
    metrics_.GetGauge("gpusched_agent_reserve_requests", "Reserve calls by result.", {{"result", "refused"}})
        .Set(service_->reserves_refused());
  }

  AgentConfig config_;
  RealClock clock_;
  metrics::PrometheusMetrics metrics_;
  std::unique_ptr<log::Logger> logger_;
  Inventory inventory_;
  std::unique_ptr<kernels::ProbeBackend> backend_;
  kernels::FakeBackend* fake_ = nullptr;
  std::unique_ptr<Nvml> nvml_;
  std::unique_ptr<AgentState> state_;
  std::unique_ptr<ReservationBook> book_;
  std::unique_ptr<NodeAgentService> service_;
  std::unique_ptr<AgentServer> server_;
  std::unique_ptr<http::Server> http_;
  std::unique_ptr<Prober> prober_;
  std::unique_ptr<deviceplugin::GpuDevicePlugin> plugin_;

  Mutex timers_mu_;
  CondVar callbacks_done_;
  bool stopping_ ABSL_GUARDED_BY(timers_mu_) = false;
  Clock::TimerId heartbeat_timer_ ABSL_GUARDED_BY(timers_mu_) = 0;
  Clock::TimerId sample_timer_ ABSL_GUARDED_BY(timers_mu_) = 0;
  std::map<int, uint64_t> last_xid_ ABSL_GUARDED_BY(timers_mu_);
  int callbacks_running_ ABSL_GUARDED_BY(timers_mu_) = 0;
  Mutex publish_mu_;  // one PublishAllocations at a time
};

}  // namespace

absl::Status ValidateAgentConfig(const AgentConfig& c) {
  if (c.node_name.empty()) return absl::InvalidArgumentError("node name: must be set (--node-name or NODE_NAME)");
  if (c.node_name.size() > 253) return absl::InvalidArgumentError("node name: longer than 253 characters");
  for (double l : c.fake_load) {
    if (!(l >= 0 && l < 1)) {
      return absl::InvalidArgumentError(absl::StrCat("fake load ", l, " is not in [0, 1)"));
    }
  }
  if (!c.fake_load.empty() && c.fake_preset.empty()) {
    return absl::InvalidArgumentError("fake load: only with a fake preset (--fake PRESET)");
  }
  if (c.heartbeat < absl::Milliseconds(10) || c.heartbeat > absl::Minutes(10)) {
    return absl::InvalidArgumentError(absl::StrCat("heartbeat ", absl::FormatDuration(c.heartbeat),
                                                   " is not in [10ms, 10m]"));
  }
  if (c.sample_every < absl::Milliseconds(100)) {
    return absl::InvalidArgumentError("sample interval: at least 100ms");
  }
  if (c.tls_cert.empty() != c.tls_key.empty()) {
    return absl::InvalidArgumentError("TLS: give both a certificate and a key");
  }
  if (!c.tls_client_ca.empty() && c.tls_cert.empty()) {
    return absl::InvalidArgumentError("TLS client CA: mutual TLS needs the agent's certificate and key too");
  }
  return ValidateProberOptions(c.probe);
}

absl::StatusOr<std::unique_ptr<AgentApp>> AgentApp::Start(const AgentConfig& config) {
  RETURN_IF_ERROR(ValidateAgentConfig(config));
  auto app = std::make_unique<App>();
  RETURN_IF_ERROR(app->Init(config));
  return app;
}

}  // namespace gpusched::agent

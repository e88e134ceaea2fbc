#pragma once

// gpusched-agent assembled: discovery (or a fake preset) -> AgentState, the probes on a
// duty-cycle schedule, NVML sampling and XID health, the ReservationBook, the NodeAgent gRPC
// service, the kubelet device plugin (when a plugin directory is set), and /metrics + /healthz.
// main.cc runs one until SIGTERM; tests and the demo run several in one process.
//
//   AgentConfig c;
//   c.node_name = "node-7";
//   c.fake_preset = "dgx-a100";
//   c.listen = "127.0.0.1:0";
//   ASSIGN_OR_RETURN(auto agent, AgentApp::Start(c));
//   agent->grpc_port();  agent->metrics_port();
//   agent->SetFakeLoad(3, 0.7);   // fake GPUs only: other tenants take 70 % of GPU 3
//
// Thread-safety: Start/Stop from one thread; the parts run on their own threads (gRPC, the
// clock's timer thread for probes, heartbeats and NVML samples, the HTTP server).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/prober.h"

namespace gpusched::agent {

struct AgentConfig {
  std::string node_name;
  // Fake GPUs from a topology preset (inventory.h FakePresetNames); empty: CUDA + NVML.
  std::string fake_preset;
  std::vector<double> fake_load;  // empty, one value for every GPU, or one per GPU; in [0, 1)
  uint64_t seed = 1;
  std::string listen = "0.0.0.0:9444";          // gRPC (NodeAgent)
  std::string metrics_listen = "0.0.0.0:9445";  // HTTP /metrics, /healthz; "" for none
  std::string tls_cert, tls_key, tls_client_ca;
  absl::Duration heartbeat = absl::Seconds(5);
  bool probes = true;
  ProberOptions probe;
  absl::Duration sample_every = absl::Seconds(10);  // NVML usage and XID polling
  // Where the kubelet's device-plugin sockets live; "" runs no device plugin.
  std::string device_plugin_dir;
  std::string pod_resources_socket = "/var/lib/kubelet/pod-resources/kubelet.sock";
  // Whole GPUs under this name too (e.g. "nvidia.com/gpu" where gpusched replaces NVIDIA's device
  // plugin); "" (the default) leaves them to NVIDIA's plugin, so the two never collide.
  std::string whole_gpu_resource;
  // How often the device plugin asks the kubelet's PodResources which pod holds which devices.
  absl::Duration reconcile_every = absl::Seconds(10);
  absl::Duration reserved_ttl = absl::Minutes(10);
  std::string log_level = "info";
  bool log_json = false;
  // Where `nvidia-smi topo -m` output is read from in real mode; "" runs nvidia-smi.
  std::string topo_file;
};

// InvalidArgument naming the setting.
absl::Status ValidateAgentConfig(const AgentConfig& c);

class AgentApp {
 public:
  static absl::StatusOr<std::unique_ptr<AgentApp>> Start(const AgentConfig& config);
  virtual ~AgentApp() = default;
  virtual int grpc_port() const = 0;
  virtual int metrics_port() const = 0;  // 0 when not serving metrics
  // Fake mode only: FailedPrecondition otherwise; InvalidArgument for a bad GPU or load.
  virtual absl::Status SetFakeLoad(int gpu, double load) = 0;
  // Marks a GPU unhealthy (as an XID 79 would), for tests and the demo.
  virtual void SetGpuHealth(int gpu, bool healthy, const std::string& reason) = 0;
  virtual std::string MetricsText() = 0;
  virtual void Stop() = 0;
};

}  // namespace gpusched::agent

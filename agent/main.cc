// gpusched-agent: the node DaemonSet. Runs until SIGTERM or SIGINT.
//
//   gpusched-agent --node-name $(NODE_NAME)                      # a GPU node (CUDA + NVML)
//   gpusched-agent --node-name n1 --fake dgx-a100 --fake-load 0.5 --listen 127.0.0.1:9444
//
// Flags are parsed by CLI11 (typed, range-checked, --help generated); usage errors exit 2.

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/synchronization/mutex.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "agent/app.h"
#include "agent/inventory.h"

namespace {

// "5s", "200ms" -> Duration, as CLI11 validators.
bool ParseDurationFlag(const std::string& text, absl::Duration* out) {
  return absl::ParseDuration(text, out) && *out > absl::ZeroDuration();
}

}  // namespace

int main(int argc, char** argv) {
  // Debian's Abseil records every lock-order edge of absl::Mutex to detect deadlocks (a debug
  // aid, on in that build); with one stream per node agent it costs a quarter of the CPU.
  // The concurrency tests keep it, and ThreadSanitizer checks the lock order.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  using gpusched::agent::AgentApp;
  using gpusched::agent::AgentConfig;
  AgentConfig c;
  if (const char* env = std::getenv("NODE_NAME")) c.node_name = env;
  std::string heartbeat = "5s", sample = "10s", probe_interval = "30s", probe_budget = "2ms", ttl = "10m",
              reconcile = "10s";

  CLI::App app{"gpusched-agent: discovers and probes a node's GPUs, streams its state to "
               "gpusched-extender over gRPC, and hands the scheduler's GPU choice to the kubelet."};
  app.option_defaults()->always_capture_default();
  app.add_option("--node-name", c.node_name, "This node's Kubernetes name (default: $NODE_NAME)");
  app.add_option("--fake", c.fake_preset, "Describe fake GPUs from a preset instead of the hardware")
      ->check(CLI::IsMember(gpusched::agent::FakePresetNames()));
  app.add_option("--fake-load", c.fake_load,
                 "Share of each fake GPU other tenants take: one value, or one per GPU")
      ->check(CLI::Range(0.0, 0.999))
      ->delimiter(',');
  app.add_option("--seed", c.seed, "Seed of the fake probes' noise");
  app.add_option("--listen", c.listen, "gRPC address (NodeAgent service), HOST:PORT");
  app.add_option("--metrics", c.metrics_listen, "HTTP address of /metrics and /healthz; empty: off");
  app.add_option("--tls-cert", c.tls_cert, "PEM certificate of the gRPC port")->check(CLI::ExistingFile);
  app.add_option("--tls-key", c.tls_key, "PEM key of the gRPC port")->check(CLI::ExistingFile);
  app.add_option("--tls-client-ca", c.tls_client_ca, "Require client certificates signed by this CA")
      ->check(CLI::ExistingFile);
  app.add_option("--heartbeat", heartbeat, "Longest silence on the state stream");
  app.add_option("--sample-every", sample, "NVML usage and XID polling interval");
  app.add_flag("!--no-probes", c.probes, "Do not run the GPU probes");
  app.add_option("--probe-duty-cycle", c.probe.duty_cycle, "Largest share of a GPU's time for probes")
      ->check(CLI::Range(0.0001, 0.05));
  app.add_option("--probe-interval", probe_interval, "Shortest time between probe rounds");
  app.add_option("--probe-budget", probe_budget, "How long a throughput probe holds a GPU");
  app.add_option("--device-plugin-dir", c.device_plugin_dir,
                 "The kubelet's device-plugin directory (e.g. /var/lib/kubelet/device-plugins); empty: no device plugin");
  app.add_option("--pod-resources-socket", c.pod_resources_socket, "The kubelet's PodResources socket");
  app.add_option("--whole-gpu-resource", c.whole_gpu_resource,
                 "Also serve whole GPUs under this name (nvidia.com/gpu where NVIDIA's device plugin is removed); default: none");
  app.add_option("--reservation-ttl", ttl, "How long a reservation waits for its pod");
  app.add_option("--reconcile-every", reconcile, "How often the kubelet's PodResources are read");
  app.add_option("--topo-file", c.topo_file, "Read `nvidia-smi topo -m` output from this file")
      ->check(CLI::ExistingFile);
  app.add_option("--log-level", c.log_level, "debug, info, warn or error")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
  app.add_flag("--log-json", c.log_json, "Log one JSON object per line");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return e.get_exit_code() == 0 ? 0 : (rc == 0 ? 0 : 2);
  }
  struct {
    const char* flag;
    const std::string& text;
    absl::Duration* out;
  } durations[] = {{"--heartbeat", heartbeat, &c.heartbeat},
                   {"--sample-every", sample, &c.sample_every},
                   {"--probe-interval", probe_interval, &c.probe.min_interval},
                   {"--probe-budget", probe_budget, &c.probe.budget},
                   {"--reservation-ttl", ttl, &c.reserved_ttl},
                   {"--reconcile-every", reconcile, &c.reconcile_every}};
  for (auto& d : durations) {
    if (!ParseDurationFlag(d.text, d.out)) {
      std::fprintf(stderr, "%s: \"%s\" is not a positive duration (e.g. 5s, 200ms)\n", d.flag, d.text.c_str());
      return 2;
    }
  }

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // before any thread starts

  absl::StatusOr<std::unique_ptr<AgentApp>> agent = AgentApp::Start(c);
  if (!agent.ok()) {
    std::fprintf(stderr, "gpusched-agent: %s\n", std::string(agent.status().message()).c_str());
    return absl::IsInvalidArgument(agent.status()) ? 2 : 1;
  }
  int sig = 0;
  sigwait(&set, &sig);
  (*agent)->Stop();
  return 0;
}

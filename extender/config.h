#pragma once

// gpusched-extender's configuration: one YAML file (deploy/base/scheduler-config.yaml carries
// the shipped one). Every key is optional; unknown keys are errors (a typo must not silently
// fall back to a default).
//
//   listen: "0.0.0.0:8888"        # HOST:PORT; --listen overrides it
//   pathPrefix: ""                # verbs at <pathPrefix>/filter ...; "" = /filter
//   threads: 2                    # HTTP workers
//   parallelism: 1                # threads per request for Filter/Score; 0 = the hardware's.
//                                 # Requests already run side by side on the HTTP workers.
//   tls: {certFile: F, keyFile: F}  # PEM; re-read when they change
//   profile: fgd                  # a built-in profile or a profile YAML file (its first profile,
//                                 # or `profileName`)
//   profileName: NAME
//   kubernetes:                   # absent: no API access (an empty model; Bind is model-only)
//     inCluster: true             # the ServiceAccount; or:
//     kubeconfig: FILE            # as kubectl reads it; context: NAME
//   logLevel: info                # debug | info | warn | error
//   logJson: false
//   bodyLimitBytes: 67108864      # largest request body (413 beyond)
//   requestTimeout: 30s           # a request must arrive whole within this
//   maxModelAge: 120s             # /readyz fails when the API server has been silent this long
//   assumedPodTtl: 30s            # a bound pod the informer never confirms is forgotten then
//   gangTimeout: 60s              # how long a gang's plan holds capacity (unless it declares one)
//   seed: 0                       # tie-break randomness; 0 = from the system
//   agents:                       # absent: no node agents (GPUs from the Node objects)
//     static: {node-1: "10.0.0.5:9444"}   # and/or find the DaemonSet's pods through the API:
//     discover: {namespace: gpusched-system, labels: {app.kubernetes.io/name: gpusched-agent}, port: 9444}
//     staleAfter: 15s             # an agent silent this long is stale
//     onStale: avoid              # avoid: GPU pods avoid the node; fallback: GPUs from the Node
//     callTimeout: 2s             # Reserve/Release calls at bind
//     tls: {caFile: F, certFile: F, keyFile: F}   # verify the agents; with cert+key, mutual TLS
// Durations are Go-style ("90s", "2m", "1h30m").

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gpusched::extender {

struct AgentsConfig {
  bool enabled = false;
  std::map<std::string, std::string> static_agents;  // node -> HOST:PORT
  bool discover = false;
  std::string discover_namespace = "gpusched-system";
  std::map<std::string, std::string> discover_labels = {{"app.kubernetes.io/name", "gpusched-agent"}};
  int discover_port = 9444;
  absl::Duration stale_after = absl::Seconds(15);
  absl::Duration call_timeout = absl::Seconds(2);
  bool avoid_when_stale = true;
  std::string ca_file, cert_file, key_file;
};

struct ExtenderConfig {
  std::string host = "0.0.0.0";
  uint16_t port = 8888;
  std::string path_prefix;
  int threads = 2;
  int parallelism = 1;  // threads per request for Filter/Score (0: the hardware's)
  std::string cert_file, key_file;
  std::string profile = "fgd";
  std::string profile_name;
  bool in_cluster = false;
  std::string kubeconfig, kube_context;
  std::string log_level = "info";
  bool log_json = false;
  int64_t body_limit = int64_t{64} << 20;
  absl::Duration request_timeout = absl::Seconds(30);
  absl::Duration max_model_age = absl::Seconds(120);
  absl::Duration assumed_pod_ttl = absl::Seconds(30);
  absl::Duration gang_timeout = absl::Seconds(60);
  uint64_t seed = 0;
  AgentsConfig agents;

  bool kubernetes() const { return in_cluster || !kubeconfig.empty(); }
};

// Parses the YAML text; `source` names it in errors ("extender.yaml:4:3: threads: ...").
absl::StatusOr<ExtenderConfig> ParseConfig(std::string_view text, std::string_view source);
absl::StatusOr<ExtenderConfig> LoadConfig(const std::string& path);
// "HOST:PORT", "[::1]:PORT" or ":PORT" (all addresses) into `config`.
absl::Status SetListen(std::string_view address, ExtenderConfig& config);

}  // namespace gpusched::extender

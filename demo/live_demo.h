#pragma once

// `gpusched-demo`: the whole system on loopback, in front of the user.
//
//   local Kubernetes API (in-process) <── LIST/WATCH, PATCH, Binding ── gpusched-extender
//                                                                          ▲      │ gRPC streams
//   driver: plays kube-scheduler ── POST /filter /prioritize /bind ────────┘      ▼
//           and the controllers (creates the workload's Pods)            gpusched-agent x 5
//                                                                        (fake GPUs: DGX H100 x2,
//                                                                         DGX-1, PCIe L40S, L4 pair)
//
// The agents and the extender are the real binaries, started as child processes; the API server
// is test/fakes/fake_apiserver (the Kubernetes wire format, in memory), since a real
// kube-apiserver takes minutes to build (test/e2e does that). The driver replays a workload file
// (demo/workload.yaml) pod by pod as kube-scheduler would: filter, then prioritize when several
// nodes pass, then bind, and prints what was placed where and why. Then a summary, the metrics
// addresses, and the simulator's policy comparison for the same pods (`gpusched sim --mode
// replay`). Everything it started is stopped at the end, on Ctrl-C, and on any failure.
//
// Thread-safety: RunLiveDemo runs on one thread; `interrupted` may be set from a signal handler.

#include <atomic>
#include <ostream>
#include <string>

namespace gpusched::demo {

struct LiveDemoOptions {
  std::string bin_dir = "build";                 // holds extender/, agent/ and cli/ binaries
  std::string workload = "demo/workload.yaml";
  std::string out = "out/live-demo";             // logs, configuration, the simulator's report
  std::string profile = "fgd-topology";          // the extender's profile
  bool simulate = true;                          // the simulator comparison at the end
  bool keep_running = false;                     // after the summary, serve until Ctrl-C
  bool progress_bar = false;                     // redraw a bar under the lines (a terminal)
};

// 0: done (pods that cannot fit are part of the story, not a failure); 1: the stack failed
// (the message says which process and where its log is); 130: interrupted while scheduling.
int RunLiveDemo(const LiveDemoOptions& options, const std::atomic<bool>& interrupted,
                std::ostream& out);

}  // namespace gpusched::demo

// gpusched-demo: the live demo (demo/live_demo.h). scripts/demo.sh builds and runs it.
//
//   gpusched-demo [--bin-dir build] [--workload demo/workload.yaml] [--out out/live-demo]
//                 [--profile fgd-topology] [--no-sim] [--keep-running]

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <iostream>

#include "CLI/CLI.hpp"
#include "demo/live_demo.h"

namespace {

std::atomic<bool> g_interrupted{false};

extern "C" void OnSignal(int) { g_interrupted.store(true); }

}  // namespace

int main(int argc, char** argv) {
  gpusched::demo::LiveDemoOptions o;
  CLI::App app{
      "The live demo: fake-GPU node agents and gpusched-extender on 127.0.0.1, a driver playing "
      "kube-scheduler against them over HTTP, a workload replayed pod by pod, then a summary and "
      "the simulator's policy comparison. Ctrl-C stops everything."};
  app.add_option("--bin-dir", o.bin_dir, "Build directory holding extender/, agent/ and cli/")
      ->capture_default_str();
  app.add_option("--workload", o.workload, "Kubernetes objects to replay (Pods, Jobs, Deployments, "
                                           "PodGroups), multi-document YAML")
      ->capture_default_str();
  app.add_option("--out", o.out, "Logs, generated configuration, the simulator's report")
      ->capture_default_str();
  app.add_option("--profile", o.profile, "The extender's profile")->capture_default_str();
  bool no_sim = false;
  app.add_flag("--no-sim", no_sim, "Skip the simulator comparison");
  app.add_flag("--keep-running", o.keep_running, "Keep the stack up after the summary until Ctrl-C");
  CLI11_PARSE(app, argc, argv);
  o.simulate = !no_sim;
  o.progress_bar = isatty(STDOUT_FILENO) != 0;

  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return gpusched::demo::RunLiveDemo(o, g_interrupted, std::cout);
}

// gpusched-extender: the HTTP service kube-scheduler consults (filter, prioritize, bind,
// preempt), fed by the Kubernetes API.
//
//   gpusched-extender [--config FILE] [--listen HOST:PORT] [--kubeconfig FILE]
//
// Runs until SIGINT or SIGTERM, then stops serving and exits 0.

#include <csignal>
#include <iostream>
#include <string>
#include <vector>

#include "extender/app.h"
#include "extender/config.h"

namespace {

constexpr std::string_view kUsage =
    "usage: gpusched-extender [--config FILE] [--listen HOST:PORT] [--kubeconfig FILE]\n"
    "  --config FILE      YAML configuration (extender/config.h; deploy/base/scheduler-config.yaml)\n"
    "  --listen HOST:PORT where to serve (overrides the file; default 0.0.0.0:8888)\n"
    "  --kubeconfig FILE  reach the Kubernetes API as kubectl would (overrides the file)\n"
    "With no configuration it serves an empty model and binds in the model only.\n";

}  // namespace

int main(int argc, char** argv) {
  gpusched::extender::TuneProcessForServing();
  using gpusched::extender::ExtenderConfig;
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string config_path, listen, kubeconfig;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    }
    std::string* into = a == "--config" ? &config_path : a == "--listen" ? &listen
                      : a == "--kubeconfig" ? &kubeconfig : nullptr;
    if (into == nullptr || i + 1 >= args.size() || args[i + 1].rfind("--", 0) == 0) {
      std::cerr << "gpusched-extender: unknown or incomplete argument \"" << a << "\"\n" << kUsage;
      return 2;
    }
    *into = args[++i];
  }
  ExtenderConfig config;
  if (!config_path.empty()) {
    absl::StatusOr<ExtenderConfig> loaded = gpusched::extender::LoadConfig(config_path);
    if (!loaded.ok()) {
      std::cerr << "gpusched-extender: " << loaded.status().message() << "\n";
      return 2;
    }
    config = *loaded;
  }
  if (!listen.empty()) {
    absl::Status s = gpusched::extender::SetListen(listen, config);
    if (!s.ok()) {
      std::cerr << "gpusched-extender: --listen: " << s.message() << "\n";
      return 2;
    }
  }
  if (!kubeconfig.empty()) {
    config.kubeconfig = kubeconfig;
    config.in_cluster = false;
  }
  if (config_path.empty() && kubeconfig.empty()) {
    std::cerr << "gpusched-extender: no --config: defaults, no Kubernetes access, an empty model\n";
  }

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // before any thread starts: they inherit it

  auto app = gpusched::extender::ExtenderApp::Start(config);
  if (!app.ok()) {
    std::cerr << "gpusched-extender: " << app.status().message() << "\n";
    return 1;
  }
  int sig = 0;
  sigwait(&set, &sig);
  std::cerr << "gpusched-extender: signal " << sig << ", stopping\n";
  (*app)->Stop();
  return 0;
}

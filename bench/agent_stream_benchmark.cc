// Load driver: what 5,000 node agents streaming their state once a second cost the extender.
//
//   build/bench/agent_stream_load --agents 5000 --ports 5000 --seconds 30 --change-every 100
//
// A child process (forked before any thread exists) plays the agents: one gRPC callback server
// listening on --ports ports, serving a Watch stream per node that sends a full NodeState
// (8 A100s of a DGX A100 with probe results; the topology on the first message only, then
// `topology_unchanged`, as the agent sends it) once a second; every
// --change-every'th message moves a GPU's headroom by 0.3 (a real change the model must take),
// the others only jitter it by 1 %. The parent is the extender as it runs: ExtenderApp with an
// `agents.static` entry per node, fed by a FakeApiServer with the 5,000 Node objects, so every
// message goes through the AgentHub (validation, order), the NodeMerger and, when it changed,
// the model. Reported: the parent's CPU time over the measured window as a share of the
// machine's 2 cores (the target is under 25 %), messages applied per second, and RSS.

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/inventory.h"
#include "agent/node_state.h"
#include "agent/proto/agent.grpc.pb.h"
#include "common/http/http.h"
#include "common/real_clock.h"
#include "extender/app.h"
#include "extender/config.h"
#include "grpcpp/grpcpp.h"
#include "test/fakes/fake_apiserver.h"

namespace {

namespace pb = ::gpusched::agent::v1;
using gpusched::FakeApiServer;

// ---- The agents (child process).

class Stream;
struct Registry {
  std::mutex mu;
  std::set<Stream*> streams;
};

class Stream final : public grpc::ServerWriteReactor<pb::NodeState> {
 public:
  Stream(Registry& reg, pb::NodeState first, int change_every)
      : reg_(reg), msg_(std::move(first)), change_every_(change_every) {
    {
      std::lock_guard<std::mutex> l(reg_.mu);
      reg_.streams.insert(this);
    }
    std::lock_guard<std::mutex> l(mu_);
    writing_ = true;
    StartWrite(&msg_);
  }
  // Called once a second by the ticker.
  void Tick() {
    std::lock_guard<std::mutex> l(mu_);
    if (writing_ || done_) return;
    msg_.set_sequence(msg_.sequence() + 1);
    msg_.set_observed_unix_ms(absl::ToUnixMillis(absl::Now()));
    // As the agent does (agent/service.cc): the topology once per stream, then "unchanged".
    if (msg_.has_topology()) {
      msg_.clear_topology();
      msg_.set_topology_unchanged(true);
    }
    const uint64_t n = msg_.sequence() + std::hash<std::string>()(msg_.node_name()) % 997;
    for (pb::Gpu& g : *msg_.mutable_gpus()) {
      double h = 0.9 + 0.01 * static_cast<double>((n + g.index()) % 3);
      if (change_every_ > 0 && n % change_every_ == 0 && g.index() == 0) h = 0.6;
      g.mutable_probe()->set_headroom(h);
      g.mutable_probe()->set_at_unix_ms(msg_.observed_unix_ms());
    }
    writing_ = true;
    StartWrite(&msg_);
  }
  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> l(mu_);
    writing_ = false;
    if (!ok && !done_) {
      done_ = true;
      Finish(grpc::Status::OK);
    }
  }
  void OnCancel() override {
    std::lock_guard<std::mutex> l(mu_);
    if (!done_) {
      done_ = true;
      Finish(grpc::Status::CANCELLED);
    }
  }
  void OnDone() override {
    {
      std::lock_guard<std::mutex> l(reg_.mu);
      reg_.streams.erase(this);
    }
    delete this;
  }

 private:
  Registry& reg_;
  std::mutex mu_;
  pb::NodeState msg_;
  const int change_every_;
  bool writing_ = false;
  bool done_ = false;
};

class Agents final : public pb::NodeAgent::CallbackService {
 public:
  Agents(Registry& reg, pb::NodeState base, int change_every)
      : reg_(reg), base_(std::move(base)), change_every_(change_every) {}
  grpc::ServerWriteReactor<pb::NodeState>* Watch(grpc::CallbackServerContext*,
                                                  const pb::WatchRequest* req) override {
    pb::NodeState s = base_;
    s.set_node_name(req->node_name());
    // A new incarnation per stream: each starts its sequence at 1 again.
    s.set_incarnation(absl::StrCat("load-", getpid(), "-", streams_.fetch_add(1)));
    s.set_sequence(1);
    return new Stream(reg_, std::move(s), change_every_);
  }

 private:
  Registry& reg_;
  const pb::NodeState base_;
  const int change_every_;
  std::atomic<uint64_t> streams_{0};
};

int RunAgents(int ports, int first_port, int change_every, int ready_fd) {
  gpusched::RealClock clock;
  auto inv = gpusched::agent::FakeInventory("template", "dgx-a100");
  if (!inv.ok()) return 1;
  gpusched::agent::AgentState state("template", *inv, "x", clock, absl::Seconds(1));
  pb::NodeState base = state.Current();
  for (pb::Gpu& g : *base.mutable_gpus()) {
    pb::Probe* p = g.mutable_probe();
    p->set_available_sm_fraction(1);
    p->set_headroom(0.9);
    p->set_throughput_gflops(19000);
    p->set_occupancy(1);
    p->set_device_to_device_gbps(2000);
    p->set_duration_us(2100);
  }
  Registry reg;
  Agents service(reg, base, change_every);
  grpc::ServerBuilder b;
  for (int i = 0; i < ports; ++i) {
    b.AddListeningPort(absl::StrCat("127.0.0.1:", first_port + i), grpc::InsecureServerCredentials());
  }
  b.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = b.BuildAndStart();
  const char ok = server ? 1 : 0;
  (void)!write(ready_fd, &ok, 1);
  if (!server) return 1;
  // Once a second on the wall clock, however long a round of writes takes to start.
  absl::Time next = absl::Now();
  while (true) {
    next += absl::Seconds(1);
    absl::SleepFor(next - absl::Now());
    std::lock_guard<std::mutex> l(reg.mu);
    for (Stream* s : reg.streams) s->Tick();
  }
}

// ---- The extender (parent).

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec + u.ru_stime.tv_usec / 1e6;
}

// utime + stime of another process, in seconds (/proc/PID/stat fields 14 and 15).
double ProcessCpuSeconds(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat;
  std::getline(in, stat);
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::vector<std::string> f;
  std::string cur;
  for (size_t i = close + 2; i <= stat.size(); ++i) {
    if (i == stat.size() || stat[i] == ' ') {
      f.push_back(cur);
      cur.clear();
    } else {
      cur += stat[i];
    }
  }
  if (f.size() < 13) return 0;
  return (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

long RssKiB() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

double Metric(const std::string& text, const std::string& series) {
  const size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return 0;
  return std::stod(text.substr(at + series.size() + 2));
}

}  // namespace

int main(int argc, char** argv) {
  gpusched::extender::TuneProcessForServing();  // as gpusched-extender's main does
  int agents = 5000, ports = 5000, seconds = 30, change_every = 100, first_port = 30000, warmup = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    int* into = flag == "--agents" ? &agents : flag == "--ports" ? &ports : flag == "--seconds" ? &seconds
              : flag == "--change-every" ? &change_every : flag == "--first-port" ? &first_port
              : flag == "--warmup" ? &warmup : nullptr;
    if (into == nullptr || !absl::SimpleAtoi(argv[i + 1], into) || *into < 0) {
      std::cerr << "agent_stream_load: bad argument " << flag << "\n";
      return 2;
    }
  }
  if (ports < 1 || ports > agents) ports = agents;

  int pipefd[2];
  if (pipe(pipefd) != 0) return 1;
  const pid_t child = fork();  // before any thread exists in this process
  if (child == 0) {
    close(pipefd[0]);
    _exit(RunAgents(ports, first_port, change_every, pipefd[1]));
  }
  close(pipefd[1]);
  char ok = 0;
  if (read(pipefd[0], &ok, 1) != 1 || ok != 1) {
    std::cerr << "the agents process could not listen on ports " << first_port << ".." << first_port + ports - 1 << "\n";
    kill(child, SIGKILL);
    return 1;
  }

  FakeApiServer api(gpusched::FakeApiServerOptions{.bookmark_interval = absl::Seconds(5)});
  if (!api.Start().ok()) return 1;
  gpusched::extender::ExtenderConfig config;
  config.host = "127.0.0.1";
  config.port = 0;
  config.profile = "fgd";
  config.seed = 1;
  config.log_level = "warn";
  config.agents.enabled = true;
  config.agents.stale_after = absl::Seconds(15);
  for (int i = 0; i < agents; ++i) {
    const std::string name = absl::StrCat("gpu-node-", i);
    api.Apply(FakeApiServer::kNodes,
              {{"metadata", {{"name", name},
                             {"labels", {{"nvidia.com/gpu.product", "NVIDIA-A100-SXM4-80GB"},
                                         {"nvidia.com/gpu.memory", "81920"}}}}},
               {"status", {{"allocatable", {{"cpu", "96"}, {"memory", "768Gi"}, {"pods", "110"},
                                            {"nvidia.com/gpu", "8"}}}}}});
    config.agents.static_agents[name] = absl::StrCat("127.0.0.1:", first_port + i % ports);
  }
  gpusched::http::ClientOptions to_api{.base_url = api.base_url()};
  auto app = gpusched::extender::ExtenderApp::Start(config, &to_api);
  if (!app.ok()) {
    std::cerr << app.status() << "\n";
    kill(child, SIGKILL);
    return 1;
  }
  auto client = gpusched::http::Client::Create(
      gpusched::http::ClientOptions{.base_url = absl::StrCat("http://127.0.0.1:", (*app)->port())});
  auto metrics = [&] { return (*client)->Do("GET", "/metrics").value_or(gpusched::http::Response{}).body; };

  // Warm up: every stream open and its first message applied.
  const absl::Time start = absl::Now();
  while (Metric(metrics(), "gpusched_agent_streams{state=\"fresh\"}") < agents) {
    if (absl::Now() - start > absl::Seconds(120)) {
      std::cerr << "not every agent stream came up within 120 s\n";
      break;
    }
    absl::SleepFor(absl::Milliseconds(500));
  }
  const double connect_s = absl::ToDoubleSeconds(absl::Now() - start);
  absl::SleepFor(absl::Seconds(warmup));

  const std::string m0 = metrics();
  const double applied0 = Metric(m0, "gpusched_agent_messages_total{result=\"applied\"}");
  const double updates0 = Metric(m0, "gpusched_node_model_updates_total{source=\"agent\"}");
  const double cpu0 = CpuSeconds();
  const double child0 = ProcessCpuSeconds(child);
  const absl::Time t0 = absl::Now();
  std::vector<double> shares;
  for (int s = 0; s < seconds; ++s) {
    const double c = CpuSeconds();
    absl::SleepFor(absl::Seconds(1));
    shares.push_back((CpuSeconds() - c) / 2.0);  // of 2 cores
  }
  const double wall = absl::ToDoubleSeconds(absl::Now() - t0);
  const double cpu = CpuSeconds() - cpu0;
  const double child_cpu = ProcessCpuSeconds(child) - child0;
  const std::string m1 = metrics();
  const double applied = Metric(m1, "gpusched_agent_messages_total{result=\"applied\"}") - applied0;
  const double updates = Metric(m1, "gpusched_node_model_updates_total{source=\"agent\"}") - updates0;
  std::sort(shares.begin(), shares.end());
  const double fresh = Metric(m1, "gpusched_agent_streams{state=\"fresh\"}");

  std::printf("agents %d on %d ports; all streams up after %.1f s; measured %.1f s\n", agents, ports, connect_s, wall);
  std::printf("extender CPU: %.1f %% of 2 cores (median second %.1f %%, p99 second %.1f %%)\n",
              100 * cpu / wall / 2, 100 * shares[shares.size() / 2],
              100 * shares[std::min(shares.size() - 1, shares.size() * 99 / 100)]);
  std::printf("messages applied: %.0f/s; model updates: %.1f/s; fresh streams at the end: %.0f; RSS %ld MiB\n",
              applied / wall, updates / wall, fresh, RssKiB() / 1024);
  // The agents' process shares the 2 cores; when it cannot send every message, scale.
  std::printf("per %d messages/s (one per agent per second): %.1f %% of 2 cores; the agents' process used %.1f %%\n",
              agents, 100 * cpu / wall / 2 * agents / std::max(applied / wall, 1.0), 100 * child_cpu / wall / 2);
  (*app)->Stop();
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  return 0;
}

#include "demo/live_demo.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/inventory.h"
#include "common/http/http.h"
#include "demo/processes.h"
#include "demo/workload.h"
#include "extender/k8s/objects.h"
#include "plugins/gang/declaration.h"
#include "test/fakes/fake_apiserver.h"
#include "topology/presets.h"

namespace gpusched::demo {
namespace {

using Json = nlohmann::json;
using testing::FakeApiServer;

// The demo's cluster: one node per kind of machine people schedule on, each with a fake-GPU agent.
struct DemoNode {
  const char* name;
  const char* preset;  // topology/presets.h and the agent's --fake
  const char* what;
};
constexpr DemoNode kCluster[] = {
    {"dgx-h100-0", "hgx-h100", "DGX H100: 8 H100 on NVSwitch"},
    {"dgx-h100-1", "hgx-h100", "DGX H100: 8 H100 on NVSwitch"},
    {"dgx1-v100-0", "dgx1-v100", "DGX-1: 8 V100, hybrid cube-mesh NVLink"},
    {"pcie-l40s-0", "pcie-8gpu", "PCIe box: 8 L40S, 2 per PCIe switch"},
    {"l4-pair-0", "pcie-2gpu-l4", "L4 pair: 2 L4 on PCIe"},
};

struct NodeState {
  const DemoNode* spec = nullptr;
  agent::Inventory inventory;
  std::vector<int64_t> used_milli;          // per GPU, from the assignments the extender wrote
  std::vector<std::string> pods;
  uint16_t grpc_port = 0, metrics_port = 0;
};

struct Outcome {
  std::string pod;     // ns/name
  std::string node;    // "" while pending
  std::string reason;  // why pending
  std::string gang;    // its PodGroup, if any
};

struct Latencies {
  std::map<std::string, std::vector<double>> ms;  // verb -> round trips
  void Add(const std::string& verb, absl::Duration d) { ms[verb].push_back(absl::ToDoubleMilliseconds(d)); }
  static double Quantile(std::vector<double> v, double q) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
  }
};

// Sum of a metric's samples whose label text contains every one of `labels`.
double MetricSum(absl::string_view text, absl::string_view name,
                 const std::vector<std::string>& labels = {}) {
  double sum = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::StartsWith(line, name)) continue;
    const absl::string_view rest = line.substr(name.size());
    if (rest.empty() || (rest[0] != '{' && rest[0] != ' ')) continue;
    bool all = true;
    for (const std::string& l : labels) all = all && absl::StrContains(rest, l);
    if (!all) continue;
    const size_t space = rest.rfind(' ');
    double v = 0;
    if (space != absl::string_view::npos && absl::SimpleAtod(rest.substr(space + 1), &v)) sum += v;
  }
  return sum;
}

// How the chosen GPUs are joined: "NVLink between every pair, >= 450 GB/s" or "PCIe, 32 GB/s".
std::string DescribeSet(const topology::GpuTopology& t, const std::vector<int>& gpus) {
  if (gpus.size() < 2) return "";
  const double min_bw = t.MinBandwidth(gpus);
  bool all_nvlink = true;
  for (size_t i = 0; i < gpus.size(); ++i) {
    for (size_t j = i + 1; j < gpus.size(); ++j) all_nvlink = all_nvlink && t.NvLinks(gpus[i], gpus[j]) > 0;
  }
  const bool switched = std::any_of(t.devices().begin(), t.devices().end(), [](const auto& d) {
    return d.kind == topology::DeviceKind::kNvSwitch;
  });
  if (all_nvlink) {
    return absl::StrFormat("%s, at least %.0f GB/s between every pair",
                           switched ? "NVSwitch" : "NVLink", min_bw);
  }
  return absl::StrFormat(gpus.size() == 2 ? "PCIe, %.0f GB/s between them"
                                           : "PCIe, %.0f GB/s between the farthest pair",
                         min_bw);
}

std::string Ranges(const std::vector<int>& v) {
  std::vector<std::string> parts;
  for (size_t i = 0; i < v.size();) {
    size_t j = i;
    while (j + 1 < v.size() && v[j + 1] == v[j] + 1) ++j;
    parts.push_back(j > i + 1 ? absl::StrCat(v[i], "-", v[j])
                    : j == i ? absl::StrCat(v[i]) : absl::StrCat(v[i], ",", v[j]));
    i = j + 1;
  }
  return absl::StrJoin(parts, ",");
}

// "dgx-h100-0, dgx-h100-1: <reason>; 3 others: <reason>" from FailedNodes maps.
std::string SummarizeReasons(const Json& filter) {
  // The extender lists unresolvable nodes in both maps (for kube-scheduler before 1.21); a node
  // counts once, with its first reason.
  std::map<std::string, std::vector<std::string>> by_reason;
  std::set<std::string> seen;
  for (const char* field : {"FailedAndUnresolvableNodes", "FailedNodes"}) {
    if (!filter.contains(field) || !filter[field].is_object()) continue;
    for (const auto& [node, reason] : filter[field].items()) {
      if (!seen.insert(node).second) continue;
      by_reason[reason.is_string() ? reason.get<std::string>() : reason.dump()].push_back(node);
    }
  }
  std::vector<std::pair<std::string, std::vector<std::string>>> sorted(by_reason.begin(),
                                                                       by_reason.end());
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.second.size() > b.second.size(); });
  std::vector<std::string> parts;
  for (const auto& [reason, nodes] : sorted) {
    parts.push_back(nodes.size() <= 2 ? absl::StrCat(absl::StrJoin(nodes, ", "), ": ", reason)
                                      : absl::StrCat(nodes.size(), " nodes: ", reason));
  }
  return absl::StrJoin(parts, "; ");
}

class Demo {
 public:
  Demo(const LiveDemoOptions& o, const std::atomic<bool>& interrupted, std::ostream& out)
      : o_(o), interrupted_(interrupted), out_(out) {}
  ~Demo() { Shutdown(); }

  int Run() {
    absl::Status s = RunSteps();
    if (!s.ok()) {
      ClearBar();
      if (interrupted_.load()) {
        out_ << "\nInterrupted: stopping.\n";
      } else {
        out_ << "\ngpusched-demo: " << s.message() << "\n";
      }
    }
    Shutdown();
    if (!s.ok()) return interrupted_.load() ? 130 : 1;
    return 0;
  }

 private:
  absl::Status RunSteps() {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::create_directories(fs::path(o_.out) / "logs", ec);
    if (ec) return absl::InternalError(absl::StrCat("cannot create ", o_.out, ": ", ec.message()));
    absl::StatusOr<Workload> workload = LoadWorkload(o_.workload);
    if (!workload.ok()) return workload.status();
    workload_ = std::move(*workload);
    if (absl::Status st = DecodeWorkload(); !st.ok()) return st;

    out_ << "gpusched live demo: a GPU cluster on 127.0.0.1, scheduled through gpusched-extender\n"
         << "exactly as kube-scheduler would use it (logs and configuration in " << o_.out << "/)\n\n";
    if (absl::Status st = StartStack(); !st.ok()) return st;
    if (absl::Status st = Replay(); !st.ok()) return st;
    Summary();
    if (absl::Status st = ExplainPending(); !st.ok()) return st;
    if (o_.simulate) {
      if (absl::Status st = Simulate(); !st.ok()) return st;
    }
    if (o_.keep_running) {
      out_ << "\nThe stack keeps running: scrape the metrics above, or look at the pods with\n"
           << "  curl -s " << api_->base_url() << "/api/v1/pods\n"
           << "Press Ctrl-C to stop it.\n";
      out_.flush();
      // An agent that dies (or is killed to see what happens) is news, not the end: the extender
      // marks its node stale and keeps serving. The extender itself dying ends the demo.
      while (!interrupted_.load()) {
        if (std::string dead = procs_.FirstExited(); !dead.empty()) {
          if (absl::StartsWith(dead, "extender")) return absl::InternalError(dead);
          out_ << "  " << dead << "; the extender marks its node stale after 15 s (staleAfter)\n";
          out_.flush();
        }
        absl::SleepFor(absl::Milliseconds(100));
      }
    }
    return absl::OkStatus();
  }

  // Each pod as the extender reads it (its GPU request, extender/k8s/objects.h) and its gang (the
  // gang plugin's rules, against the workload's own PodGroups): for the lines printed and for the
  // simulator's copy of the workload.
  absl::Status DecodeWorkload() {
    plugins::gang::PodGroupSet groups;
    for (const GroupObject& g : workload_.groups) {
      const std::string what = absl::StrCat(o_.workload, ": ", g.resource, " ",
                                            g.object["metadata"]["name"].get<std::string>());
      if (absl::EndsWith(g.resource, "/workloads")) {
        absl::StatusOr<std::vector<plugins::gang::PodGroupInfo>> w =
            extender::k8s::DecodeWorkloadJson(g.object);
        if (!w.ok()) return absl::InvalidArgumentError(absl::StrCat(what, ": ", w.status().message()));
        for (plugins::gang::PodGroupInfo& pg : *w) groups.Upsert(std::move(pg));
      } else {
        absl::StatusOr<plugins::gang::PodGroupInfo> pg = extender::k8s::DecodePodGroupJson(g.object);
        if (!pg.ok()) return absl::InvalidArgumentError(absl::StrCat(what, ": ", pg.status().message()));
        groups.Upsert(*std::move(pg));
      }
    }
    for (const Json& p : workload_.pods) {
      absl::StatusOr<extender::k8s::PodObject> obj = extender::k8s::DecodePodJson(p);
      if (!obj.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(o_.workload, ": pod ", p["metadata"]["name"].get<std::string>(), ": ",
                         obj.status().message()));
      }
      // A gang the extender would refuse shows as no gang here; the extender says why.
      absl::StatusOr<std::optional<framework::GangRef>> gang =
          plugins::gang::ResolveGang(obj->info, groups);
      std::string name;
      if (gang.ok() && gang->has_value()) {
        const std::string id = (*gang)->id.str();
        name = id.substr(id.find('/') + 1);
        ++gang_members_[name];
      }
      gangs_.push_back(std::move(name));
      requests_.push_back(obj->info.requests.gpu);
    }
    return absl::OkStatus();
  }

  std::string Bin(absl::string_view rel) const { return absl::StrCat(o_.bin_dir, "/", rel); }
  std::string OutPath(absl::string_view rel) const { return absl::StrCat(o_.out, "/", rel); }

  absl::Status CheckInterrupted() const {
    return interrupted_.load() ? absl::CancelledError("interrupted") : absl::OkStatus();
  }

  // Polls `ready` until it holds, the deadline, a child's exit or Ctrl-C.
  template <class F>
  absl::Status WaitUntil(F ready, absl::Duration timeout, absl::string_view what) {
    const absl::Time deadline = absl::Now() + timeout;
    while (!ready()) {
      if (absl::Status s = CheckInterrupted(); !s.ok()) return s;
      if (std::string dead = procs_.FirstExited(); !dead.empty()) {
        return absl::InternalError(absl::StrCat("while waiting for ", what, ": ", dead));
      }
      if (absl::Now() > deadline) {
        return absl::DeadlineExceededError(absl::StrCat("timed out after ", absl::FormatDuration(timeout),
                                                        " waiting for ", what, " (logs in ",
                                                        OutPath("logs"), ")"));
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<http::Response> Call(const std::string& method, const std::string& path,
                                      const std::string& body = "") {
    return extender_->Do(method, path, body);
  }
  std::string Metrics() {
    absl::StatusOr<http::Response> r = Call("GET", "/metrics");
    return r.ok() && r->status == 200 ? r->body : "";
  }

  absl::Status StartStack() {
    api_ = std::make_unique<FakeApiServer>(
        testing::FakeApiServerOptions{.history_window = 100000});
    if (absl::Status s = api_->Start(); !s.ok()) return s;
    out_ << "Starting:\n";
    out_ << absl::StrFormat("  %-14s %s  (in-process; the Kubernetes wire format, in memory)\n",
                            "Kubernetes API", api_->base_url());

    // Nodes as GPU Feature Discovery labels them, and a fake-GPU agent for each.
    std::map<std::string, std::string> static_agents;
    for (const DemoNode& spec : kCluster) {
      NodeState n;
      n.spec = &spec;
      absl::StatusOr<agent::Inventory> inv = agent::FakeInventory(spec.name, spec.preset);
      if (!inv.ok()) return inv.status();
      n.inventory = std::move(*inv);
      n.used_milli.assign(n.inventory.gpus.size(), 0);
      const std::string count = std::to_string(n.inventory.gpus.size());
      api_->Apply(FakeApiServer::kNodes,
                  {{"metadata",
                    {{"name", spec.name},
                     {"labels",
                      {{"kubernetes.io/hostname", spec.name},
                       {std::string(extender::k8s::kGfdProduct), n.inventory.gpus[0].model},
                       {std::string(extender::k8s::kGfdMemory),
                        std::to_string(n.inventory.gpus[0].memory_mib)},
                       {std::string(extender::k8s::kGfdCount), count},
                       {std::string(extender::k8s::kTopologyPresetLabel), spec.preset}}}}},
                   {"status",
                    {{"allocatable", {{"cpu", "128"}, {"memory", "1Ti"}, {"pods", "110"},
                                      {"nvidia.com/gpu", count}}},
                     {"conditions", Json::array({{{"type", "Ready"}, {"status", "True"}}})}}}});
      absl::StatusOr<uint16_t> grpc = FreeLoopbackPort();
      absl::StatusOr<uint16_t> metrics = FreeLoopbackPort();
      if (!grpc.ok()) return grpc.status();
      if (!metrics.ok()) return metrics.status();
      n.grpc_port = *grpc;
      n.metrics_port = *metrics;
      absl::StatusOr<pid_t> pid = procs_.Spawn(
          absl::StrCat("agent ", spec.name),
          {Bin("agent/gpusched-agent"), "--node-name", spec.name, "--fake", spec.preset,
           "--listen", absl::StrCat("127.0.0.1:", n.grpc_port), "--metrics",
           absl::StrCat("127.0.0.1:", n.metrics_port), "--heartbeat", "2s", "--log-level", "warn"},
          OutPath(absl::StrCat("logs/agent-", spec.name, ".log")));
      if (!pid.ok()) return pid.status();
      static_agents[spec.name] = absl::StrCat("127.0.0.1:", n.grpc_port);
      out_ << absl::StrFormat("  %-14s %-12s %d x %-22s %s; metrics http://127.0.0.1:%d/metrics\n",
                              absl::StrCat("agent"), spec.name, n.inventory.gpus.size(),
                              n.inventory.gpus[0].model, spec.what, n.metrics_port);
      nodes_.push_back(std::move(n));
    }

    // The extender: a kubeconfig for the local API server and a configuration file, as an
    // operator would write them (deploy/base/scheduler-config.yaml has the cluster one).
    absl::StatusOr<uint16_t> port = FreeLoopbackPort();
    if (!port.ok()) return port.status();
    extender_port_ = *port;
    {
      std::ofstream kc(OutPath("kubeconfig"));
      kc << "apiVersion: v1\nkind: Config\ncurrent-context: demo\n"
         << "clusters:\n- name: demo\n  cluster:\n    server: " << api_->base_url() << "\n"
         << "users:\n- name: demo\n  user: {}\n"
         << "contexts:\n- name: demo\n  context: {cluster: demo, user: demo}\n";
      std::ofstream cfg(OutPath("extender.yaml"));
      cfg << "# Written by gpusched-demo; the same keys as deploy/base/scheduler-config.yaml.\n"
          << "listen: \"127.0.0.1:" << extender_port_ << "\"\n"
          << "profile: " << o_.profile << "\n"
          << "kubernetes:\n  kubeconfig: " << std::filesystem::absolute(OutPath("kubeconfig")).string()
          << "\n"
          << "seed: 7\ngangTimeout: 30s\nlogLevel: info\n"
          << "agents:\n  staleAfter: 15s\n  static:\n";
      for (const auto& [node, addr] : static_agents) cfg << "    " << node << ": \"" << addr << "\"\n";
      if (!kc || !cfg) return absl::InternalError(absl::StrCat("cannot write into ", o_.out));
    }
    absl::StatusOr<pid_t> pid =
        procs_.Spawn("extender", {Bin("extender/gpusched-extender"), "--config", OutPath("extender.yaml")},
                     OutPath("logs/extender.log"));
    if (!pid.ok()) return pid.status();
    absl::StatusOr<std::unique_ptr<http::Client>> client = http::Client::Create(
        http::ClientOptions{.base_url = absl::StrCat("http://127.0.0.1:", extender_port_),
                            .timeout = absl::Seconds(10)});
    if (!client.ok()) return client.status();
    extender_ = std::move(*client);

    const absl::Time start = absl::Now();
    if (absl::Status s = WaitUntil([&] {
          absl::StatusOr<http::Response> r = Call("GET", "/readyz");
          return r.ok() && r->status == 200;
        }, absl::Seconds(60), "the extender's /readyz (the first full list of nodes and pods)");
        !s.ok()) {
      return s;
    }
    const double fresh_needed = static_cast<double>(nodes_.size());
    if (absl::Status s = WaitUntil([&] {
          return MetricSum(Metrics(), "gpusched_agent_streams", {"state=\"fresh\""}) >= fresh_needed;
        }, absl::Seconds(60), "every agent's state stream");
        !s.ok()) {
      return s;
    }
    out_ << absl::StrFormat(
        "  %-14s http://127.0.0.1:%d  profile %s; ready after %.1f s with %d agents streaming\n\n",
        "extender", extender_port_, o_.profile, absl::ToDoubleSeconds(absl::Now() - start),
        nodes_.size());
    return absl::OkStatus();
  }

  // Creates the workload's objects (as kubectl and the controllers would) and schedules its pods
  // one by one, as kube-scheduler would.
  absl::Status Replay() {
    int shared = 0;
    for (const framework::GpuRequest& r : requests_) shared += !r.empty() && !r.whole() ? 1 : 0;
    out_ << "Workload " << o_.workload << ": " << workload_.pods.size() << " pods ("
         << workload_.groups.size() << " gangs; " << shared << " ask for a share of one GPU)\n";
    for (const GroupObject& g : workload_.groups) api_->Apply(g.resource, g.object);
    for (const Json& p : workload_.pods) api_->Apply(FakeApiServer::kPods, p);
    const double pods = static_cast<double>(workload_.pods.size());
    const double groups = static_cast<double>(workload_.groups.size());
    if (absl::Status s = WaitUntil([&] {
          const std::string m = Metrics();
          return MetricSum(m, "gpusched_informer_events_total", {"resource=\"pods\"", "type=\"ADDED\""}) >= pods &&
                 MetricSum(m, "gpusched_informer_events_total", {"podgroups", "type=\"ADDED\""}) +
                         MetricSum(m, "gpusched_informer_events_total", {"workloads", "type=\"ADDED\""}) >= groups;
        }, absl::Seconds(30), "the extender to see the workload's pods and PodGroups");
        !s.ok()) {
      return s;
    }
    out_ << "Scheduling, as kube-scheduler does: POST /filter, /prioritize (when several nodes pass),"
         << " /bind\n";
    std::vector<std::string> node_names;
    for (const NodeState& n : nodes_) node_names.push_back(n.spec->name);
    const absl::Time start = absl::Now();
    for (size_t i = 0; i < workload_.pods.size(); ++i) {
      if (absl::Status s = CheckInterrupted(); !s.ok()) return s;
      if (std::string dead = procs_.FirstExited(); !dead.empty()) return absl::InternalError(dead);
      absl::StatusOr<Outcome> o = ScheduleOne(workload_.pods[i], gangs_[i], node_names);
      if (!o.ok()) return o.status();
      outcomes_.push_back(std::move(*o));
      DrawBar(i + 1);
    }
    ClearBar();
    replay_time_ = absl::Now() - start;
    return absl::OkStatus();
  }

  absl::StatusOr<Outcome> ScheduleOne(const Json& created, const std::string& gang,
                                      const std::vector<std::string>& node_names) {
    const std::string ns = created["metadata"]["namespace"];
    const std::string name = created["metadata"]["name"];
    Outcome o{absl::StrCat(ns, "/", name), "", "", gang};
    std::optional<Json> pod = api_->Get(FakeApiServer::kPods, ns, name);
    if (!pod) return absl::InternalError(absl::StrCat("pod ", o.pod, " vanished from the API"));
    const Json args = {{"Pod", *pod}, {"Nodes", nullptr}, {"NodeNames", node_names}};
    absl::Time t = absl::Now();
    absl::StatusOr<http::Response> f = Call("POST", "/filter", args.dump());
    if (!f.ok()) return f.status();
    lat_.Add("filter", absl::Now() - t);
    const Json filter = Json::parse(f->body, nullptr, false);
    if (f->status != 200 || filter.is_discarded()) {
      return absl::InternalError(absl::StrCat("/filter answered ", f->status, ": ", f->body));
    }
    std::vector<std::string> feasible;
    if (filter["NodeNames"].is_array()) feasible = filter["NodeNames"].get<std::vector<std::string>>();
    std::string why_here;
    if (feasible.empty()) {
      o.reason = filter.value("Error", std::string());
      if (o.reason.empty()) o.reason = SummarizeReasons(filter);
      PrintLine(o, *pod, {}, "");
      return o;
    }
    std::string chosen = feasible[0];
    if (feasible.size() > 1) {
      const Json pargs = {{"Pod", *pod}, {"Nodes", nullptr}, {"NodeNames", feasible}};
      t = absl::Now();
      absl::StatusOr<http::Response> p = Call("POST", "/prioritize", pargs.dump());
      if (!p.ok()) return p.status();
      lat_.Add("prioritize", absl::Now() - t);
      const Json scores = Json::parse(p->body, nullptr, false);
      if (p->status != 200 || !scores.is_array()) {
        return absl::InternalError(absl::StrCat("/prioritize answered ", p->status, ": ", p->body));
      }
      // kube-scheduler adds the extender's score x weight (deploy: 100, so 0..1000 x 10) to its
      // own 0..100-per-plugin scores; with that weight our top node wins (plugins/gang/README.md
      // has the arithmetic), so the demo takes the top score, ties in list order.
      int64_t best = -1, second = -1;
      std::string runner_up;
      for (const Json& hp : scores) {
        const int64_t s = hp.value("Score", int64_t{0});
        if (s > best) {
          second = best;
          runner_up = chosen;
          best = s;
          chosen = hp.value("Host", std::string());
        } else if (s > second) {
          second = s;
          runner_up = hp.value("Host", std::string());
        }
      }
      why_here = absl::StrCat("score ", best, " of 10 among ", feasible.size(), " nodes that fit",
                              second >= 0 ? absl::StrCat(" (next: ", runner_up, " ", second, ")") : "");
    } else {
      why_here = "the only node that fits";
      if (!filter["FailedNodes"].empty() || !filter["FailedAndUnresolvableNodes"].empty()) {
        if (!o.gang.empty()) why_here = "the node the gang's plan holds for it";
      }
    }
    const Json bind = {{"PodName", name}, {"PodNamespace", ns},
                       {"PodUID", (*pod)["metadata"]["uid"]}, {"Node", chosen}};
    t = absl::Now();
    absl::StatusOr<http::Response> b = Call("POST", "/bind", bind.dump());
    if (!b.ok()) return b.status();
    lat_.Add("bind", absl::Now() - t);
    const Json bound = Json::parse(b->body, nullptr, false);
    const std::string error = bound.is_object() ? bound.value("Error", std::string()) : b->body;
    if (!error.empty()) {
      o.reason = absl::StrCat("bind to ", chosen, " refused: ", error);
      PrintLine(o, *pod, {}, "");
      return o;
    }
    o.node = chosen;
    std::vector<framework::GpuShare> gpus;
    std::optional<Json> after = api_->Get(FakeApiServer::kPods, ns, name);
    if (after) {
      const Json ann = (*after)["metadata"].value("annotations", Json::object());
      const std::string key(extender::k8s::kAssignmentAnnotation);
      if (ann.contains(key)) {
        absl::StatusOr<extender::k8s::Assignment> a =
            extender::k8s::DecodeAssignment(ann[key].get<std::string>());
        if (a.ok()) gpus = a->gpus;
      }
    }
    for (NodeState& n : nodes_) {
      if (chosen != n.spec->name) continue;
      n.pods.push_back(name);
      for (const framework::GpuShare& g : gpus) {
        const size_t gi = static_cast<size_t>(g.gpu.value());
        if (gi < n.used_milli.size()) n.used_milli[gi] += g.milli.value();
      }
    }
    PrintLine(o, *pod, gpus, why_here);
    return o;
  }

  NodeState* Node(const std::string& name) {
    for (NodeState& n : nodes_) {
      if (name == n.spec->name) return &n;
    }
    return nullptr;
  }

  void PrintLine(const Outcome& o, const Json& pod, const std::vector<framework::GpuShare>& gpus,
                 const std::string& why_here) {
    ClearBar();
    const size_t i = outcomes_.size() + 1;
    std::string gang;
    if (!o.gang.empty()) {
      gang = absl::StrCat("  [gang ", o.gang, ", ", gang_members_[o.gang], " members]");
    }
    const std::string head = absl::StrFormat("[%2d/%d] %-26s", i, workload_.pods.size(), o.pod);
    if (o.node.empty()) {
      out_ << head << " PENDING" << gang << "\n        why: " << o.reason << "\n";
      return;
    }
    std::vector<int> idx;
    for (const auto& g : gpus) idx.push_back(g.gpu.value());
    std::string what;
    if (gpus.empty()) {
      what = "no GPU";
    } else if (gpus.size() == 1 && gpus[0].milli.value() < 1000) {
      const NodeState* n = Node(o.node);
      what = absl::StrCat("GPU ", idx[0], ": a ", gpus[0].milli.value(), "m share",
                          gpus[0].memory.value() > 0
                              ? absl::StrCat(" + ", gpus[0].memory.value() / 1024, " GiB")
                              : "",
                          n ? absl::StrCat(" (GPU now ", n->used_milli[idx[0]], "m of 1000m used)") : "");
    } else {
      what = absl::StrCat(gpus.size() == 1 ? "GPU " : "GPUs ", Ranges(idx));
      const NodeState* n = Node(o.node);
      if (n != nullptr && n->inventory.topology != nullptr && gpus.size() > 1) {
        absl::StrAppend(&what, " (", DescribeSet(*n->inventory.topology, idx), ")");
      }
    }
    const NodeState* n = Node(o.node);
    out_ << head << " -> " << o.node << "  " << what << gang << "\n        why: " << why_here
         << (n ? absl::StrCat(" (", n->inventory.gpus[0].model, ")") : "") << "\n";
    (void)pod;
  }

  void DrawBar(size_t done) {
    if (!o_.progress_bar) return;
    const size_t total = workload_.pods.size();
    const size_t width = 30;
    const size_t filled = total == 0 ? width : done * width / total;
    out_ << "\r\033[K  [" << std::string(filled, '#') << std::string(width - filled, '.') << "] "
         << done << "/" << total << " pods" << std::flush;
    bar_shown_ = true;
  }
  void ClearBar() {
    if (!bar_shown_) return;
    out_ << "\r\033[K";
    bar_shown_ = false;
  }

  void Summary() {
    size_t placed = 0;
    for (const Outcome& o : outcomes_) placed += o.node.empty() ? 0 : 1;
    out_ << "\nSummary: " << placed << " of " << outcomes_.size() << " pods placed in "
         << absl::StrFormat("%.2f s", absl::ToDoubleSeconds(replay_time_)) << "\n";
    int64_t total_gpus = 0, used_milli = 0, busy_gpus = 0;
    for (const NodeState& n : nodes_) {
      std::string bar;
      int64_t node_milli = 0;
      for (int64_t m : n.used_milli) {
        bar += m >= 1000 ? "#" : m > 0 ? "+" : ".";
        node_milli += m;
        busy_gpus += m > 0 ? 1 : 0;
      }
      total_gpus += static_cast<int64_t>(n.used_milli.size());
      used_milli += node_milli;
      out_ << absl::StrFormat("  %-12s %-12s [%-8s] %5.2f of %d GPUs  %s\n", n.spec->name,
                              n.spec->preset, bar, static_cast<double>(node_milli) / 1000.0,
                              n.used_milli.size(), absl::StrJoin(n.pods, " "));
    }
    out_ << absl::StrFormat(
        "  GPUs: %.2f of %d allocated (# whole, + shared, . free); %d GPUs hold at least one pod\n",
        static_cast<double>(used_milli) / 1000.0, total_gpus, busy_gpus);
    std::map<std::string, std::pair<int, int>> gangs;  // bound, members
    for (const Outcome& o : outcomes_) {
      if (o.gang.empty()) continue;
      gangs[o.gang].second++;
      if (!o.node.empty()) gangs[o.gang].first++;
    }
    for (const auto& [g, c] : gangs) {
      out_ << "  gang " << g << ": " << c.first << " of " << c.second << " members bound"
           << (c.first == c.second ? " (all together)"
               : c.first == 0     ? " (none: all or nothing, and nothing held for it)"
                                  : " (PARTIAL: this should not happen)")
           << "\n";
    }
    for (const Outcome& o : outcomes_) {
      if (o.node.empty()) out_ << "  pending " << o.pod << ": " << o.reason << "\n";
    }
    out_ << "  round trips to the extender (this driver's view, HTTP on loopback):";
    for (const auto& [verb, v] : lat_.ms) {
      out_ << absl::StrFormat(" %s p50 %.2f ms, p99 %.2f ms (%d);", verb, Latencies::Quantile(v, 0.5),
                              Latencies::Quantile(v, 0.99), v.size());
    }
    out_ << "\n\nMetrics (Prometheus text; live while the demo runs, --keep-running to keep them):\n"
         << "  extender  http://127.0.0.1:" << extender_port_ << "/metrics\n";
    const std::string m = Metrics();
    out_ << absl::StrFormat("            gpusched_extender_requests_total %.0f, binds %.0f,"
                            " GPU pools allocated: ",
                            MetricSum(m, "gpusched_extender_requests_total"),
                            MetricSum(m, "gpusched_binds_total"));
    std::vector<std::string> pools;
    for (absl::string_view line : absl::StrSplit(m, '\n')) {
      if (!absl::StartsWith(line, "gpusched_gpu_allocated_ratio{")) continue;
      const size_t p = line.find("pool=\"");
      const size_t e = p == absl::string_view::npos ? p : line.find('"', p + 6);
      double v = 0;
      if (e != absl::string_view::npos && absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &v)) {
        pools.push_back(absl::StrFormat("%s %.0f%%", line.substr(p + 6, e - p - 6), v * 100));
      }
    }
    out_ << absl::StrJoin(pools, ", ") << "\n";
    for (const NodeState& n : nodes_) {
      out_ << "  agent     http://127.0.0.1:" << n.metrics_port << "/metrics  (" << n.spec->name << ")\n";
    }
    out_ << "  Grafana: deploy/monitoring/grafana-dashboard.json reads these.\n";
  }

  // Runs one of our command-line tools to the end; its output (stdout and stderr).
  absl::StatusOr<std::string> RunTool(const std::string& name, const std::vector<std::string>& argv,
                                      const std::string& log, int* exit_code) {
    absl::StatusOr<pid_t> pid = procs_.Spawn(name, argv, log);
    if (!pid.ok()) return pid.status();
    absl::StatusOr<int> rc = procs_.Wait(*pid, interrupted_);
    if (!rc.ok()) return rc.status();
    *exit_code = *rc;
    std::ifstream in(log);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  // "Why is my pod pending", as a user asks it: `gpusched explain NS/POD` against the extender,
  // for the first pending pod and the first pending gang member.
  absl::Status ExplainPending() {
    std::vector<std::string> ask;
    bool single = false, gang = false;
    for (const Outcome& o : outcomes_) {
      if (!o.node.empty()) continue;
      bool& seen = o.gang.empty() ? single : gang;
      if (!seen) ask.push_back(o.pod);
      seen = true;
    }
    if (ask.empty()) return absl::OkStatus();
    out_ << "\nWhy are they pending? Each answer comes from the extender's /explain, which\n"
         << "re-runs the profile's Filter on the changed pod, so every suggestion is checked:\n";
    for (const std::string& pod : ask) {
      const std::vector<std::string> argv = {Bin("cli/gpusched"), "explain", pod, "--extender",
                                             absl::StrCat("http://127.0.0.1:", extender_port_)};
      out_ << "\n$ gpusched explain " << pod << "\n";
      int rc = 0;
      absl::StatusOr<std::string> text = RunTool("gpusched explain", argv, OutPath("logs/explain.log"), &rc);
      if (!text.ok()) return text.status();
      out_ << *text;
      if (rc != 0) return absl::InternalError(absl::StrCat("gpusched explain ", pod, " failed"));
    }
    return absl::OkStatus();
  }

  // The same pod mix through the simulator's six policies (inflation: pods drawn from it until
  // 130 % of the GPUs are asked for; the openb format has no gangs, the wiring comes from
  // --topology).
  absl::Status Simulate() {
    std::ofstream nodes(OutPath("sim-nodes.csv"));
    nodes << "sn,cpu_milli,memory_mib,gpu,model\n";
    std::map<std::string, std::string> model_of;  // full GFD name -> short simulator name
    std::set<std::string> topo;
    for (const NodeState& n : nodes_) {
      std::string model = n.inventory.gpus[0].model;
      std::string short_name = model;
      for (const char* m : {"H100", "V100", "L40S", "L4"}) {
        if (absl::StrContains(model, m)) {
          short_name = m;
          break;
        }
      }
      model_of[model] = short_name;
      topo.insert(absl::StrCat(short_name, "=", n.spec->preset));
      nodes << n.spec->name << ",128000,1048576," << n.used_milli.size() << "," << short_name << "\n";
    }
    std::ofstream pods(OutPath("sim-pods.csv"));
    pods << "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,"
            "deletion_time,scheduled_time\n";
    int t = 0;
    for (size_t i = 0; i < workload_.pods.size(); ++i) {
      const framework::GpuRequest& req = requests_[i];
      std::vector<std::string> models;  // in the simulator's short names
      for (const std::string& m : req.models) {
        if (auto it = model_of.find(m); it != model_of.end()) models.push_back(it->second);
      }
      // A pod pinned to models the cluster lacks fits nowhere, here as in the live run.
      if (!req.models.empty() && models.empty()) continue;
      const Json& md = workload_.pods[i]["metadata"];
      pods << md["namespace"].get<std::string>() << "." << md["name"].get<std::string>()
           << ",1000,4096," << req.count << "," << req.milli_per_gpu.value() << ","
           << absl::StrJoin(models, "|") << ",LS,Running," << t << "," << 1000000 << "," << t
           << "\n";
      ++t;
    }
    if (!nodes || !pods) return absl::InternalError(absl::StrCat("cannot write into ", o_.out));
    nodes.close();
    pods.close();
    out_ << "\nThe simulator's policies on the same pod mix (gpusched sim, the FGD paper's experiment):"
         << "\npods drawn from this workload arrive until their GPU requests reach 130% of the GPUs;"
         << "\nunallocated GPU % when arrivals reach 100% and 130% of capacity, lower is better"
         << "\n(20 seeds; pod by pod, without gangs; report in " << OutPath("sim/report.html") << "):\n";
    out_.flush();
    const std::string log = OutPath("logs/sim.log");
    int rc = 0;
    absl::StatusOr<std::string> text = RunTool(
        "gpusched sim",
        {Bin("cli/gpusched"), "sim", "--cluster", OutPath("sim-nodes.csv"), "--trace",
         OutPath("sim-pods.csv"), "--policy", "all", "--seeds", "1-20",
         "--topology", absl::StrJoin(topo, ","), "--out", OutPath("sim")},
        log, &rc);
    if (!text.ok()) return text.status();
    // The table and the bandwidth summary; not the per-run progress, and each warning once.
    std::set<std::string> printed;
    for (absl::string_view line : absl::StrSplit(*text, '\n')) {
      const absl::string_view bare = absl::StripLeadingAsciiWhitespace(line);
      if (bare.empty() || absl::StartsWith(bare, "sim: ") || absl::StartsWith(bare, "[") ||
          absl::StartsWith(bare, "Report:") || absl::StrContains(line, "sim-pods.csv on")) {
        continue;
      }
      if (!printed.insert(std::string(line)).second) continue;
      out_ << "  " << line << "\n";
    }
    if (rc != 0) return absl::InternalError(absl::StrCat("gpusched sim failed (", log, ")"));
    return absl::OkStatus();
  }

  void Shutdown() {
    if (shut_down_) return;
    shut_down_ = true;
    const int before = procs_.running();
    const int killed = procs_.StopAll(absl::Seconds(5));
    if (api_ != nullptr) api_->Stop();
    if (before > 0 || api_ != nullptr) {
      out_ << "\nStopped " << before << " processes (extender and agents"
           << (killed > 0 ? absl::StrCat("; ", killed, " needed SIGKILL") : "")
           << ") and the local API server; " << procs_.running() << " left running.\n";
    }
    out_.flush();
  }

  const LiveDemoOptions& o_;
  const std::atomic<bool>& interrupted_;
  std::ostream& out_;
  Workload workload_;
  std::unique_ptr<FakeApiServer> api_;
  ProcessGroup procs_;
  std::vector<NodeState> nodes_;
  uint16_t extender_port_ = 0;
  std::unique_ptr<http::Client> extender_;
  std::vector<Outcome> outcomes_;
  // Per workload pod (DecodeWorkload): its GPU request and its gang's name ("" for none).
  std::vector<framework::GpuRequest> requests_;
  std::vector<std::string> gangs_;
  std::map<std::string, int> gang_members_;  // gang name -> pods of the workload in it
  Latencies lat_;
  absl::Duration replay_time_;
  bool bar_shown_ = false;
  bool shut_down_ = false;
};

}  // namespace

int RunLiveDemo(const LiveDemoOptions& options, const std::atomic<bool>& interrupted,
                std::ostream& out) {
  Demo demo(options, interrupted, out);
  return demo.Run();
}

}  // namespace gpusched::demo

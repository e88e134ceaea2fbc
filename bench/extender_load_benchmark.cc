// Load driver for gpusched-extender over real loopback HTTP: the extender (ExtenderApp, as the
// binary runs it) fed by the fake API server with N GPU nodes, driven by keep-alive clients that
// send what kube-scheduler sends with nodeCacheCapable: true.
//
//   build/bench/extender_load [--nodes 5000] [--latency-requests 2000] [--seconds 60]
//                             [--connections 4] [--profile fgd] [--threads 2] [--names N]
//                             [--parallelism 1]   (threads per request: extender.yaml parallelism)
//
// 1. Latency: one connection, Filter then Prioritize for a 1-GPU pod with every node name, one
//    after the other; median and p99 of the server-side time (the Server-Timing header) and of
//    the round trip.
// 2. Throughput: `connections` clients send Filter requests (`names` candidate names each,
//    default all) for `seconds`; requests per second per 5 s window, and the extender process's
//    RSS (VmRSS) at the start, the largest, and the end.

#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "extender/app.h"
#include "common/http/http.h"
#include "nlohmann/json.hpp"
#include "test/fakes/fake_apiserver.h"

namespace {

using Json = nlohmann::json;
using gpusched::FakeApiServer;
namespace http = gpusched::http;

int64_t RssKiB() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atoll(line.c_str() + 6);
  }
  return -1;
}

double ServerMs(const http::Response& r) {
  std::string_view t = r.Header("Server-Timing");
  size_t eq = t.find("dur=");
  double ms = -1;
  if (eq != std::string_view::npos) (void)absl::SimpleAtod(std::string(t.substr(eq + 4)), &ms);
  return ms;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

}  // namespace

double ProcessCpuSeconds() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

int main(int argc, char** argv) {
  gpusched::extender::TuneProcessForServing();  // as gpusched-extender's main does
  int nodes = 5000, latency_requests = 2000, seconds = 60, connections = 4, threads = 2, names = -1;
  int parallelism = 1;  // the extender's default (extender/config.h)
  std::string profile = "fgd";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string v = argv[i + 1];
    int* into = flag == "--nodes" ? &nodes : flag == "--latency-requests" ? &latency_requests
              : flag == "--seconds" ? &seconds : flag == "--connections" ? &connections
              : flag == "--threads" ? &threads : flag == "--names" ? &names
              : flag == "--parallelism" ? &parallelism : nullptr;
    if (flag == "--profile") {
      profile = v;
    } else if (into == nullptr || !absl::SimpleAtoi(v, into)) {
      std::cerr << "extender_load: bad argument " << flag << "\n";
      return 2;
    }
  }
  if (names < 0 || names > nodes) names = nodes;

  gpusched::FakeApiServer api(gpusched::FakeApiServerOptions{.bookmark_interval = absl::Seconds(5)});
  if (!api.Start().ok()) return 1;
  std::vector<std::string> node_names;
  for (int i = 0; i < nodes; ++i) {
    const std::string name = absl::StrCat("gpu-node-", i);
    node_names.push_back(name);
    api.Apply(FakeApiServer::kNodes,
              {{"metadata", {{"name", name},
                             {"labels", {{"nvidia.com/gpu.product", i % 3 ? "NVIDIA-A100-SXM4-80GB" : "NVIDIA-H100-80GB-HBM3"},
                                         {"nvidia.com/gpu.memory", "81920"}}}}},
               {"status", {{"allocatable", {{"cpu", "96"}, {"memory", "768Gi"}, {"pods", "110"},
                                            {"nvidia.com/gpu", "8"}}}}}});
  }
  gpusched::extender::ExtenderConfig config;
  config.host = "127.0.0.1";
  config.port = 0;
  config.threads = threads;
  config.parallelism = parallelism;
  config.profile = profile;
  config.seed = 1;
  config.log_level = "warn";
  http::ClientOptions to_api{.base_url = api.base_url()};
  auto app = gpusched::extender::ExtenderApp::Start(config, &to_api);
  if (!app.ok()) {
    std::cerr << app.status() << "\n";
    return 1;
  }
  const std::string url = absl::StrCat("http://127.0.0.1:", (*app)->port());
  auto client = http::Client::Create(http::ClientOptions{.base_url = url});
  const absl::Time deadline = absl::Now() + absl::Seconds(120);
  while ((*client)->Do("GET", "/readyz").value_or(http::Response{.status = 0}).status != 200) {
    if (absl::Now() > deadline) {
      std::cerr << "extender never became ready\n";
      return 1;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  const Json pod = {{"metadata", {{"name", "probe"}, {"namespace", "default"}, {"uid", "probe-uid"}}},
                    {"spec", {{"containers", Json::array({{{"name", "c"}, {"resources",
                        {{"requests", {{"cpu", "4"}}}, {"limits", {{"nvidia.com/gpu", "1"}}}}}}})}}}};
  const std::string all_body = Json{{"Pod", pod}, {"Nodes", nullptr}, {"NodeNames", node_names}}.dump();

  // 1. Latency.
  std::vector<double> f_srv, p_srv, f_rtt, p_rtt, pair_srv;
  for (int i = 0; i < latency_requests; ++i) {
    absl::Time t0 = absl::Now();
    auto f = (*client)->Do("POST", "/filter", all_body);
    absl::Time t1 = absl::Now();
    if (!f.ok() || f->status != 200) {
      std::cerr << "filter failed\n";
      return 1;
    }
    const Json feasible = Json::parse(f->body)["NodeNames"];
    const std::string pbody = Json{{"Pod", pod}, {"Nodes", nullptr}, {"NodeNames", feasible}}.dump();
    absl::Time t2 = absl::Now();
    auto p = (*client)->Do("POST", "/prioritize", pbody);
    absl::Time t3 = absl::Now();
    if (!p.ok() || p->status != 200) {
      std::cerr << "prioritize failed\n";
      return 1;
    }
    f_srv.push_back(ServerMs(*f));
    p_srv.push_back(ServerMs(*p));
    pair_srv.push_back(f_srv.back() + p_srv.back());
    f_rtt.push_back(absl::ToDoubleMilliseconds(t1 - t0));
    p_rtt.push_back(absl::ToDoubleMilliseconds(t3 - t2));
    if (i == 0) std::printf("feasible nodes: %zu of %d\n", feasible.size(), nodes);
  }
  std::printf("latency over %d requests each, %d candidate nodes, profile %s (ms):\n",
              latency_requests, nodes, profile.c_str());
  std::printf("  filter      server p50 %.3f p99 %.3f | round trip p50 %.3f p99 %.3f\n",
              Percentile(f_srv, 0.5), Percentile(f_srv, 0.99), Percentile(f_rtt, 0.5),
              Percentile(f_rtt, 0.99));
  std::printf("  prioritize  server p50 %.3f p99 %.3f | round trip p50 %.3f p99 %.3f\n",
              Percentile(p_srv, 0.5), Percentile(p_srv, 0.99), Percentile(p_rtt, 0.5),
              Percentile(p_rtt, 0.99));
  std::printf("  both        server p50 %.3f p99 %.3f\n", Percentile(pair_srv, 0.5),
              Percentile(pair_srv, 0.99));

  // 2. Throughput.
  std::vector<std::string> subset(node_names.begin(), node_names.begin() + names);
  const std::string body = Json{{"Pod", pod}, {"Nodes", nullptr}, {"NodeNames", subset}}.dump();
  std::atomic<int64_t> done{0}, failed{0};
  std::atomic<bool> stop{false};
  std::atomic<int64_t> driver_cpu_ns{0};  // CPU time of the driver's own threads
  const double process_cpu_start = ProcessCpuSeconds();
  std::vector<std::thread> workers;
  for (int c = 0; c < connections; ++c) {
    workers.emplace_back([&] {
      auto cl = http::Client::Create(http::ClientOptions{.base_url = url});
      while (!stop) {
        auto r = (*cl)->Do("POST", "/filter", body);
        (r.ok() && r->status == 200 ? done : failed)++;
      }
      timespec ts;
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
      driver_cpu_ns += int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
    });
  }
  const int64_t rss_start = RssKiB();
  int64_t rss_max = rss_start;
  int64_t last = 0;
  std::vector<double> rates;
  for (int s = 5; s <= seconds; s += 5) {
    absl::SleepFor(absl::Seconds(5));
    rss_max = std::max(rss_max, RssKiB());
    const int64_t now = done.load();
    rates.push_back((now - last) / 5.0);
    last = now;
  }
  stop = true;
  for (std::thread& t : workers) t.join();
  // The driver shares the 2 cores with the extender; what the extender itself spends per request
  // tells what it would sustain with kube-scheduler elsewhere (as it runs in a cluster).
  const double process_cpu = ProcessCpuSeconds() - process_cpu_start;
  const double server_cpu = process_cpu - driver_cpu_ns.load() / 1e9;
  std::printf("throughput: %d connections, %d names per filter, %d s: %.0f requests/s overall, "
              "failed %lld\n", connections, names, seconds, done.load() / double(seconds),
              static_cast<long long>(failed.load()));
  std::printf("  CPU: process %.1f s, of which the driver's client threads %.1f s; the extender "
              "(and the idle fake API server) %.0f us per request, i.e. %.0f requests/s on 2 "
              "cores with the driver elsewhere\n",
              process_cpu, driver_cpu_ns.load() / 1e9, 1e6 * server_cpu / std::max<int64_t>(1, done),
              2.0 * std::max<int64_t>(1, done) / std::max(1e-9, server_cpu));
  std::printf("  per 5 s window:");
  for (double r : rates) std::printf(" %.0f", r);
  std::printf("\n  RSS (whole process: extender + fake API server + driver): start %lld MiB, "
              "max %lld MiB, end %lld MiB\n", static_cast<long long>(rss_start / 1024),
              static_cast<long long>(rss_max / 1024), static_cast<long long>(RssKiB() / 1024));
  (*app)->Stop();
  return failed.load() == 0 ? 0 : 1;
}

#include "extender/service.h"

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "extender/k8s/objects.h"
#include "extender/wire/wire.h"
#include "scheduler/runtime/explain.h"
#include "nlohmann/json.hpp"

namespace gpusched::extender {

using runtime::Framework;

// A pod from a request, decoded: `info` to schedule, or `verdict` when it cannot be scheduled
// anywhere (then `retry` says whether waiting may help).
struct ExtenderService::Pod {
  framework::PodInfo info;
  absl::Status verdict;
  bool retry = false;
};

namespace {

http::Response Json(int status, std::string body) {
  return http::Response{.status = status, .content_type = "application/json", .body = std::move(body)};
}
http::Response JsonError(int status, std::string_view message) {
  return Json(status, wire::EncodeError(message));
}
http::Response JsonError(int status, const absl::Status& s) {
  return JsonError(status, std::string_view(s.message().data(), s.message().size()));
}


absl::StatusOr<ExtenderService::Pod> ReadPod(const nlohmann::json& pod_json,
                                             const ClusterState& state) {
  absl::StatusOr<k8s::PodObject> obj = k8s::DecodePodJson(pod_json);
  if (!obj.ok()) return obj.status();
  ExtenderService::Pod out;
  out.info = std::move(obj->info);
  if (!obj->request_error.ok()) {
    out.verdict = obj->request_error;
    return out;
  }
  absl::StatusOr<std::optional<framework::GangRef>> gang = state.ResolveGang(out.info);
  if (gang.ok()) {
    out.info.gang = std::move(*gang);
  } else {
    out.verdict = gang.status();
    out.retry = absl::IsNotFound(gang.status());  // its PodGroup may not have arrived yet
  }
  return out;
}

}  // namespace

ExtenderService::ExtenderService(runtime::LiveScheduler& live, ClusterState& state,
                                 metrics::MetricsScope& metrics, ServiceOptions options)
    : live_(live), state_(state), metrics_(metrics), options_(std::move(options)) {}

http::Response ExtenderService::Handle(const http::Request& request) {
  std::string_view path = request.target;
  if (size_t q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
  if (path == "/explain") {
    if (request.method != "GET") return JsonError(405, "/explain answers GET only");
    const size_t q = request.target.find('?');
    return Explain(q == std::string_view::npos ? std::string_view() : std::string_view(request.target).substr(q + 1));
  }
  if (path == "/healthz" || path == "/readyz" || path == "/metrics") {
    if (request.method != "GET" && request.method != "HEAD") {
      return JsonError(405, absl::StrCat(std::string(path), " answers GET only"));
    }
    if (path == "/healthz") return http::Response{.status = 200, .content_type = "text/plain", .body = "ok\n"};
    if (path == "/readyz") return Ready();
    if (!options_.metrics_text) return JsonError(404, "metrics are not enabled");
    UpdateModelMetrics();
    return http::Response{.status = 200,
                          .content_type = "text/plain; version=0.0.4; charset=utf-8",
                          .body = options_.metrics_text()};
  }
  std::string_view verb = path;
  if (!options_.path_prefix.empty()) {
    if (verb.substr(0, options_.path_prefix.size()) != options_.path_prefix) {
      return JsonError(404, absl::StrCat("no such endpoint: ", std::string(path)));
    }
    verb.remove_prefix(options_.path_prefix.size());
  }
  using VerbFn = http::Response (ExtenderService::*)(const std::string&);
  static const std::map<std::string_view, VerbFn> kVerbs = {
      {"/filter", &ExtenderService::Filter},
      {"/prioritize", &ExtenderService::Prioritize},
      {"/bind", &ExtenderService::Bind},
      {"/preempt", &ExtenderService::Preempt}};
  auto it = kVerbs.find(verb);
  if (it == kVerbs.end()) {
    return JsonError(404, absl::StrCat("no such endpoint: ", std::string(path),
                                       " (the verbs are filter, prioritize, bind, preempt under \"",
                                       options_.path_prefix, "\")"));
  }
  const std::string name(verb.substr(1));
  if (request.method != "POST") {
    return JsonError(405, absl::StrCat(std::string(path), " answers POST only"));
  }
  const absl::Time start = absl::Now();
  http::Response response = (this->*(it->second))(request.body);
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  metrics_
      .GetHistogram("gpusched_extender_request_duration_seconds",
                    "Time to answer a kube-scheduler request, server side.", {{"verb", name}},
                    metrics::ExponentialBuckets(5e-5, 2, 18))
      .Observe(seconds);
  // The standard Server-Timing header (milliseconds): load drivers read the server-side time.
  response.headers.emplace_back("Server-Timing", absl::StrCat(name, ";dur=", seconds * 1e3));
  metrics_
      .GetCounter("gpusched_extender_requests_total", "Requests answered, by verb and HTTP code.",
                  {{"verb", name}, {"code", absl::StrCat(response.status)}})
      .Increment();
  return response;
}

http::Response ExtenderService::Explain(std::string_view query) const {
  // pod=NAMESPACE/NAME; the slash may come percent-encoded.
  std::string pod_arg;
  for (absl::string_view part : absl::StrSplit(absl::string_view(query.data(), query.size()), '&')) {
    if (part.substr(0, 4) == "pod=") pod_arg = std::string(part.substr(4));
  }
  for (size_t at; (at = pod_arg.find("%2F")) != std::string::npos || (at = pod_arg.find("%2f")) != std::string::npos;) {
    pod_arg.replace(at, 3, "/");
  }
  const size_t slash = pod_arg.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == pod_arg.size()) {
    return JsonError(400, "/explain needs ?pod=NAMESPACE/NAME");
  }
  const std::string ns = pod_arg.substr(0, slash), name = pod_arg.substr(slash + 1);
  std::optional<framework::PodInfo> pod = state_.FindPodByName(ns, name);
  if (!pod) {
    return JsonError(404, absl::StrCat("pod ", pod_arg, " is not known to the extender (not listed by "
                                       "the API server yet, or deleted)"));
  }
  nlohmann::json out = {{"pod", pod->FullName()}, {"boundTo", ""}};
  cache::SnapshotRef snap = live_.Snapshot();
  if (const framework::PlacedPod* placed = snap->FindPod(pod->uid)) {
    out["boundTo"] = placed->node.str();
    return Json(200, out.dump());
  }
  absl::StatusOr<std::optional<framework::GangRef>> gang = state_.ResolveGang(*pod);
  if (!gang.ok()) return JsonError(200, gang.status());
  pod->gang = *gang;
  const runtime::Explanation e = runtime::Explain(live_.framework(), *snap, *pod);
  out["fitsNow"] = e.fits_now();
  out["gang"] = e.gang;
  if (pod->gang) {
    if (std::optional<runtime::LiveScheduler::GangView> v = live_.InspectGang(pod->gang->id)) {
      out["gangPlan"] =
          v->slots == 0
              ? (v->last_release.empty() ? std::string("no plan held")
                                         : absl::StrCat("no plan held; the last one was released: ",
                                                        v->last_release))
              : absl::StrCat("a plan holds ", v->slots - v->used, " unused slot(s) until ",
                             absl::FormatTime(v->deadline));
    }
  }
  nlohmann::json nodes = nlohmann::json::array();
  for (const auto& n : e.nodes) {
    nodes.push_back({{"node", n.node.str()}, {"fits", n.fits}, {"unresolvable", n.unresolvable},
                     {"reason", n.reason}});
  }
  out["nodes"] = std::move(nodes);
  nlohmann::json changes = nlohmann::json::array();
  for (const auto& c : e.changes) {
    std::vector<std::string> on;
    for (const NodeId& n : c.fits_on) on.push_back(n.str());
    changes.push_back({{"kind", c.kind}, {"change", c.what}, {"fitsOn", on}});
  }
  out["changes"] = std::move(changes);
  return Json(200, out.dump());
}

void ExtenderService::UpdateModelMetrics() {
  struct Pool {
    int64_t gpus = 0, milli_total = 0, milli_used = 0, milli_stranded = 0;
  };
  std::map<std::string, Pool> pools;
  cache::SnapshotRef snap = live_.Snapshot();
  for (const framework::NodeInfo* n : snap->Nodes()) {
    for (const framework::GpuSlot& g : n->gpus()) {
      if (!g.device.healthy) continue;
      Pool& p = pools[g.device.model.empty() ? "unknown" : g.device.model];
      ++p.gpus;
      p.milli_total += kOneGpu.value();
      p.milli_used += kOneGpu.value() - g.milli_free.value();
      if (g.milli_free < kOneGpu) p.milli_stranded += g.milli_free.value();
    }
  }
  MutexLock l(&pools_mu_);
  for (const std::string& old : pools_seen_) pools.try_emplace(old);  // gone: report zeros
  for (const auto& [name, p] : pools) {
    pools_seen_.insert(name);
    const metrics::Labels pool = {{"pool", name}};
    metrics_.GetGauge("gpusched_gpus", "Healthy GPUs in the model, by GPU model (the pool).", pool)
        .Set(static_cast<double>(p.gpus));
    metrics_.GetGauge("gpusched_gpu_allocated_ratio",
                      "Share of the pool's GPU compute (milli-GPU) given to pods.", pool)
        .Set(p.milli_total == 0 ? 0 : static_cast<double>(p.milli_used) / p.milli_total);
    metrics_.GetGauge("gpusched_gpu_fragmented_ratio",
                      "Share of the pool's free GPU compute that sits on partly used GPUs (no "
                      "whole-GPU pod can use it).", pool)
        .Set(p.milli_total - p.milli_used == 0
                 ? 0 : static_cast<double>(p.milli_stranded) / (p.milli_total - p.milli_used));
  }
  metrics_.GetGauge("gpusched_model_nodes", "Nodes in the scheduling model.", {})
      .Set(static_cast<double>(snap->Nodes().size()));
}

http::Response ExtenderService::Ready() const {
  Readiness r = options_.readiness ? options_.readiness() : Readiness{true, ""};
  if (r.ready) return http::Response{.status = 200, .content_type = "text/plain", .body = "ready\n"};
  return http::Response{.status = 503, .content_type = "text/plain",
                        .body = absl::StrCat("not ready: ", r.reason, "\n")};
}

http::Response ExtenderService::Filter(const std::string& body) {
  absl::StatusOr<wire::ExtenderArgs> args = wire::DecodeExtenderArgs(body);
  if (!args.ok()) return JsonError(400, args.status());
  absl::StatusOr<Pod> pod = ReadPod(args->pod, state_);
  if (!pod.ok()) return JsonError(400, pod.status());
  wire::FilterReply reply;
  if (!pod->verdict.ok()) {
    const std::string reason(pod->verdict.message());
    auto& into = pod->retry ? reply.failed : reply.unresolvable;
    for (const NodeId& n : args->node_names) into.emplace(n.str(), reason);
    return Json(200, wire::EncodeFilterReply(reply, *args));
  }
  state_.RememberRecent(pod->info);
  Framework::FilterVerdicts v = live_.Filter(pod->info, args->node_names);
  if (!v.error.ok()) {
    reply.error = v.error.Message();
    return Json(200, wire::EncodeFilterReply(reply, *args));
  }
  reply.feasible = std::move(v.feasible);
  // Nodes rejected per (plugin, unresolvable); plugin names are the plugins' own constants.
  absl::flat_hash_map<std::pair<std::string_view, bool>, int> rejected;
  for (const auto* list : {&v.failed, &v.unresolvable}) {
    const bool unresolvable = list == &v.unresolvable;
    auto& into = unresolvable ? reply.unresolvable : reply.failed;
    for (const Framework::NodeReason& r : *list) {
      into.emplace(args->node_names[r.index].str(), r.reason());
      ++rejected[{r.status.plugin(), unresolvable}];
    }
  }
  for (const auto& [key, n] : rejected) {
    const auto& [plugin, unresolvable] = key;
    metrics_
        .GetCounter("gpusched_filter_rejections_total",
                    "Nodes rejected by Filter, by the plugin that rejected them.",
                    {{"plugin", plugin.empty() ? "none" : std::string(plugin)},
                     {"kind", unresolvable ? "unresolvable" : "unschedulable"}})
        .Increment(n);
  }
  return Json(200, wire::EncodeFilterReply(reply, *args));
}

http::Response ExtenderService::Prioritize(const std::string& body) {
  absl::StatusOr<wire::ExtenderArgs> args = wire::DecodeExtenderArgs(body);
  if (!args.ok()) return JsonError(400, args.status());
  absl::StatusOr<Pod> pod = ReadPod(args->pod, state_);
  if (!pod.ok()) return JsonError(400, pod.status());
  if (!pod->verdict.ok()) {  // Filter rejected every node already; score nothing
    return Json(200, wire::EncodePrioritizeReply(
                         args->node_names, std::vector<int64_t>(args->node_names.size(), 0)));
  }
  absl::StatusOr<Framework::Priorities> p = live_.Prioritize(pod->info, args->node_names);
  if (!p.ok()) return JsonError(500, p.status());
  return Json(200, wire::EncodePrioritizeReply(args->node_names, p->priority));
}

http::Response ExtenderService::Bind(const std::string& body) {
  absl::StatusOr<wire::BindingArgs> args = wire::DecodeBindingArgs(body);
  if (!args.ok()) return JsonError(400, args.status());
  const std::string who = absl::StrCat(args->pod_namespace, "/", args->pod_name);
  std::optional<framework::PodInfo> pod = state_.FindPod(PodUid(args->pod_uid));
  if (!pod.has_value() && options_.fetch_pod) {
    absl::StatusOr<framework::PodInfo> fetched = options_.fetch_pod(args->pod_namespace, args->pod_name);
    if (!fetched.ok()) {
      return Json(200, wire::EncodeBindingReply(
                           absl::StrCat("pod ", who, ": ", fetched.status().message())));
    }
    if (fetched->uid.str() != args->pod_uid) {
      return Json(200, wire::EncodeBindingReply(absl::StrCat(
                           "pod ", who, " has UID ", fetched->uid.str(), ", not ", args->pod_uid,
                           " (it was deleted and created again)")));
    }
    absl::StatusOr<std::optional<framework::GangRef>> gang = state_.ResolveGang(*fetched);
    if (gang.ok()) fetched->gang = *gang;
    pod = std::move(*fetched);
  }
  if (!pod.has_value()) {
    return Json(200, wire::EncodeBindingReply(absl::StrCat(
                         "pod ", who, " (UID ", args->pod_uid, ") is unknown to the extender")));
  }
  runtime::LiveScheduler::BindResult r = live_.Bind(*pod, NodeId(args->node));
  if (!r.status.ok()) {
    return Json(200, wire::EncodeBindingReply(absl::StrCat("binding ", who, " to ", args->node,
                                                           ": ", r.status.Message())));
  }
  return Json(200, wire::EncodeBindingReply(""));
}

http::Response ExtenderService::Preempt(const std::string& body) {
  absl::StatusOr<wire::PreemptionArgs> args = wire::DecodePreemptionArgs(body);
  if (!args.ok()) return JsonError(400, args.status());
  absl::StatusOr<Pod> pod = ReadPod(args->pod, state_);
  if (!pod.ok()) return JsonError(400, pod.status());
  std::map<std::string, wire::PreemptionArgs::Victims> out;
  if (!pod->verdict.ok()) return Json(200, wire::EncodePreemptionReply(out));
  std::map<NodeId, std::vector<PodUid>> proposed;
  for (const auto& [node, victims] : args->nodes) {
    std::vector<PodUid>& uids = proposed[NodeId(node)];
    for (const std::string& u : victims.uids) uids.emplace_back(u);
  }
  for (runtime::LiveScheduler::NodeVictims& nv : live_.Preempt(pod->info, proposed)) {
    wire::PreemptionArgs::Victims v;
    // kube-scheduler reads Pods[0] as the most important victim: the reverse of eviction order.
    for (auto it = nv.pods.rbegin(); it != nv.pods.rend(); ++it) v.uids.push_back(it->str());
    if (auto in = args->nodes.find(nv.node.str()); in != args->nodes.end()) {
      v.pdb_violations = in->second.pdb_violations;
    }
    out.emplace(nv.node.str(), std::move(v));
  }
  return Json(200, wire::EncodePreemptionReply(out));
}

}  // namespace gpusched::extender

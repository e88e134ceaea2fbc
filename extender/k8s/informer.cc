#include "extender/k8s/informer.h"

#include <algorithm>
#include <limits>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "extender/json_depth.h"
#include "extender/k8s/objects.h"
#include "nlohmann/json.hpp"

namespace gpusched::extender::k8s {

using Json = nlohmann::json;
using plugins::gang::PodGroupInfo;

// One listed-and-watched collection. Everything but the atomics belongs to its thread.
struct Informer::Resource {
  Kind kind;
  std::string name;  // "pods", "scheduling.x-k8s.io/v1alpha1 podgroups": for logs and metrics
  std::string path;  // "/api/v1/pods"
  bool optional = false;  // a CRD that may not be installed
  PodGroupInfo::Api api = PodGroupInfo::Api::kSchedulerPlugins;
  std::string rv;
  // key "ns/name" -> what removing it needs: a pod's UID, a node's name, a group's name(s).
  std::map<std::string, std::vector<std::string>> known;
  std::atomic<bool> synced{false};
  std::atomic<bool> absent{false};
  std::atomic<int64_t> last_contact_ns{std::numeric_limits<int64_t>::min()};
};

namespace {

std::string KeyOf(const Json& obj) {
  const Json& md = obj.contains("metadata") && obj["metadata"].is_object() ? obj["metadata"]
                                                                             : Json::object();
  auto str = [&](const char* k) {
    auto it = md.find(k);
    return it != md.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  const std::string ns = str("namespace");
  return ns.empty() ? str("name") : absl::StrCat(ns, "/", str("name"));
}

std::string RvOf(const Json& obj) {
  auto md = obj.find("metadata");
  if (md == obj.end() || !md->is_object()) return "";
  auto rv = md->find("resourceVersion");
  return rv != md->end() && rv->is_string() ? rv->get<std::string>() : "";
}


// The message of a Kubernetes Status body, or the body itself (cut short).
std::string BodyMessage(const std::string& body) {
  std::string m = StatusMessage(body);
  return m.empty() ? body.substr(0, 200) : m;
}

}  // namespace

Informer::Informer(http::Client& api, runtime::LiveScheduler& live, ClusterState& state,
                   metrics::MetricsScope& metrics, Clock& clock, InformerOptions options)
    : api_(api), live_(live), state_(state), metrics_(metrics), clock_(clock),
      options_(std::move(options)) {
  auto add = [&](Kind kind, std::string name, std::string path, bool optional,
                 PodGroupInfo::Api api) {
    auto r = std::make_unique<Resource>();
    r->kind = kind;
    r->name = std::move(name);
    r->path = std::move(path);
    r->optional = optional;
    r->api = api;
    resources_.push_back(std::move(r));
  };
  using Api = PodGroupInfo::Api;
  add(Kind::kNode, "nodes", "/api/v1/nodes", false, Api::kSchedulerPlugins);
  add(Kind::kPod, "pods", "/api/v1/pods", false, Api::kSchedulerPlugins);
  for (Api a : {Api::kSchedulerPlugins, Api::kUpstream, Api::kUpstreamBeta, Api::kVolcano}) {
    const std::string gv(plugins::gang::ApiVersion(a));
    add(Kind::kPodGroup, gv + " podgroups", "/apis/" + gv + "/podgroups", true, a);
  }
  const std::string wl(plugins::gang::ApiVersion(Api::kWorkload));
  add(Kind::kWorkload, wl + " workloads", "/apis/" + wl + "/workloads", true, Api::kWorkload);
}

Informer::~Informer() { Stop(); }

void Informer::Start() {
  for (auto& r : resources_) threads_.emplace_back([this, res = r.get()] { Run(*res); });
}

void Informer::Stop() {
  {
    std::lock_guard<std::mutex> l(sleep_mu_);
    stop_ = true;
  }
  sleep_cv_.notify_all();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

bool Informer::Sleep(absl::Duration d) {
  std::unique_lock<std::mutex> l(sleep_mu_);
  sleep_cv_.wait_for(l, absl::ToChronoNanoseconds(d), [this] { return stop_.load(); });
  return !stop_;
}

void Informer::Count(std::string_view name, std::string_view help, metrics::Labels labels) {
  metrics_.GetCounter(name, help, labels).Increment();
}

void Informer::CountRestart(const Resource& r, std::string_view reason) {
  Count("gpusched_informer_restarts_total", "Watches restarted, by why.",
        {{"resource", r.name}, {"reason", std::string(reason)}});
}

void Informer::CountRejected(const Resource& r) {
  Count("gpusched_informer_rejected_total", "Objects that did not decode (state kept).",
        {{"resource", r.name}});
}

void Informer::Warn(std::string_view message, log::Fields fields) {
  if (options_.logger != nullptr) options_.logger->Warn(message, fields);
}

void Informer::Contact(Resource& r) {
  r.last_contact_ns = absl::ToUnixNanos(clock_.Now());
}

Readiness Informer::Ready(absl::Duration max_age) const {
  int64_t oldest = std::numeric_limits<int64_t>::max();
  for (const auto& r : resources_) {
    if (r->kind != Kind::kNode && r->kind != Kind::kPod) continue;
    if (!r->synced) return {false, absl::StrCat("waiting for the first list of ", r->name)};
    oldest = std::min<int64_t>(oldest, r->last_contact_ns);
  }
  const absl::Duration age = clock_.Now() - absl::FromUnixNanos(oldest);
  metrics_.GetGauge("gpusched_model_age_seconds",
                    "Time since the oldest of the newest contacts with the API server (nodes, pods).",
                    {}).Set(absl::ToDoubleSeconds(age));
  if (age > max_age) {
    return {false, absl::StrCat("no news from the API server for ", absl::FormatDuration(age),
                                " (limit ", absl::FormatDuration(max_age), ")")};
  }
  return {true, ""};
}

void Informer::Run(Resource& r) {
  absl::Duration backoff = options_.backoff_initial;
  bool need_list = true;
  while (!stop_) {
    absl::Status s = absl::OkStatus();
    if (need_list) {
      s = List(r);
      if (s.ok()) {
        need_list = false;
        backoff = options_.backoff_initial;
      } else if (absl::IsNotFound(s) && r.optional) {
        if (!r.absent.exchange(true)) {
          Warn("API not installed; asking again later", {{"resource", r.name}});
        }
        r.synced = true;
        if (!Sleep(options_.missing_api_retry)) return;
        continue;
      }
    }
    if (s.ok()) {
      r.absent = false;
      s = Watch(r);
      if (s.ok()) {
        CountRestart(r, "ended");
        continue;  // resume from r.rv
      }
      if (absl::IsCancelled(s)) return;
      if (absl::IsAborted(s)) {  // 410: our resourceVersion is too old
        CountRestart(r, "expired");
        need_list = true;
        continue;
      }
      need_list = absl::IsNotFound(s) || absl::IsInvalidArgument(s);
    }
    if (stop_) return;
    CountRestart(r, "error");
    Warn("list/watch failed; retrying",
         {{"resource", r.name}, {"error", MessageOf(s)},
          {"retry_in", absl::FormatDuration(backoff)}});
    if (!Sleep(backoff)) return;
    backoff = std::min(backoff * 2, options_.backoff_max);
  }
}

absl::Status Informer::List(Resource& r) {
  std::map<std::string, std::vector<std::string>> before = r.known;
  std::string cont;
  std::string rv;
  std::vector<Json> items;
  do {
    std::string target = absl::StrCat(r.path, "?limit=", options_.page_size);
    if (!cont.empty()) absl::StrAppend(&target, "&continue=", cont);
    ASSIGN_OR_RETURN(http::Response resp, api_.Do("GET", target));
    if (resp.status == 404) return absl::NotFoundError(BodyMessage(resp.body));
    if (resp.status == 410) {  // the continue token expired: start over
      cont.clear();
      items.clear();
      continue;
    }
    if (resp.status != 200) {
      return absl::UnavailableError(
          absl::StrCat("LIST ", r.path, ": HTTP ", resp.status, ": ", BodyMessage(resp.body)));
    }
    Json page;
    if (TooDeepAt(resp.body) != 0) {
      return absl::InvalidArgumentError(absl::StrCat("LIST ", r.path, ": JSON nested too deep"));
    }
    try {
      page = Json::parse(resp.body);
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(absl::StrCat("LIST ", r.path, ": ", e.what()));
    }
    if (!page.is_object() || !page.contains("items") ||
        !(page["items"].is_array() || page["items"].is_null())) {
      return absl::InvalidArgumentError(absl::StrCat("LIST ", r.path, ": not a list"));
    }
    const Json& md = page.contains("metadata") && page["metadata"].is_object() ? page["metadata"]
                                                                                : Json::object();
    rv = md.contains("resourceVersion") && md["resourceVersion"].is_string()
             ? md["resourceVersion"].get<std::string>() : "";
    cont = md.contains("continue") && md["continue"].is_string() ? md["continue"].get<std::string>()
                                                                 : "";
    if (page["items"].is_array()) {
      for (Json& item : page["items"]) items.push_back(std::move(item));
    }
  } while (!cont.empty() && !stop_);
  Contact(r);
  std::set<std::string> listed;
  for (const Json& item : items) {
    listed.insert(KeyOf(item));
    Upsert(r, item);
  }
  for (const auto& [key, handles] : before) {
    if (!listed.count(key)) Remove(r, key);
  }
  r.rv = rv;
  r.synced = true;
  return absl::OkStatus();
}

absl::Status Informer::Watch(Resource& r) {
  const std::string target =
      absl::StrCat(r.path, "?watch=1&allowWatchBookmarks=true&resourceVersion=", r.rv,
                   "&timeoutSeconds=", options_.watch_timeout_seconds);
  absl::Status event_error = absl::OkStatus();
  int status = 0;
  std::string error_body;
  absl::Status s = api_.Stream(
      target,
      [&](std::string_view line) {
        if (line.empty()) return true;
        Contact(r);
        Json ev;
        if (TooDeepAt(line) != 0) {
          event_error = absl::InvalidArgumentError("watch event: JSON nested too deep");
          return false;
        }
        try {
          ev = Json::parse(line);
        } catch (const std::exception& e) {
          event_error = absl::InvalidArgumentError(absl::StrCat("watch event: ", e.what()));
          return false;
        }
        if (!ev.is_object() || !ev.contains("type") || !ev["type"].is_string() ||
            !ev.contains("object") || !ev["object"].is_object()) {
          event_error = absl::InvalidArgumentError("watch event without type and object");
          return false;
        }
        const std::string type = ev["type"].get<std::string>();
        const Json& obj = ev["object"];
        if (type == "ERROR") {
          const int code = obj.contains("code") && obj["code"].is_number_integer()
                               ? obj["code"].get<int>() : 0;
          const std::string msg = obj.contains("message") && obj["message"].is_string()
                                      ? obj["message"].get<std::string>() : "";
          event_error = code == 410 ? absl::AbortedError(msg)
                                    : absl::UnavailableError(absl::StrCat("watch ERROR ", code, ": ", msg));
          return false;
        }
        Count("gpusched_informer_events_total", "Watch events received.",
              {{"resource", r.name}, {"type", type}});
        if (type == "BOOKMARK") {
        } else if (type == "ADDED" || type == "MODIFIED") {
          Upsert(r, obj);
        } else if (type == "DELETED") {
          Remove(r, KeyOf(obj));
        }
        if (std::string rv = RvOf(obj); !rv.empty()) r.rv = std::move(rv);
        return true;
      },
      options_.watch_idle_timeout, &stop_, &status, &error_body);
  if (!event_error.ok()) return event_error;
  if (!s.ok()) return s;
  if (status == 0 || status == 200) return absl::OkStatus();
  if (status == 410) return absl::AbortedError(BodyMessage(error_body));
  if (status == 404) return absl::NotFoundError(BodyMessage(error_body));
  return absl::UnavailableError(
      absl::StrCat("WATCH ", r.path, ": HTTP ", status, ": ", BodyMessage(error_body)));
}

void Informer::Upsert(Resource& r, const Json& obj) {
  switch (r.kind) {
    case Kind::kNode:
      UpsertNode(r, obj);
      break;
    case Kind::kPod:
      UpsertPod(r, obj);
      break;
    case Kind::kPodGroup:
    case Kind::kWorkload:
      UpsertGroups(r, obj);
      break;
  }
}

void Informer::UpsertNode(Resource& r, const Json& obj) {
  absl::StatusOr<NodeObject> node = DecodeNodeJson(obj);
  if (!node.ok()) {
    CountRejected(r);
    Warn("node rejected; keeping what the model had", {{"error", MessageOf(node.status())}});
    return;
  }
  const std::string name = node->spec.name.str();
  if (node->memory_unknown) {
    bool first;
    {
      MutexLock l(&mu_);
      first = warned_.insert("memory:" + name).second;
    }
    if (first) {
      Warn("node's GPU memory is unknown (no nvidia.com/gpu.memory label): whole GPUs only",
           {{"node", name}});
    }
  }
  const bool known = r.known.count(name) > 0;
  absl::Status s;
  if (options_.nodes != nullptr) {
    s = options_.nodes->OnApiNode(node->spec);
  } else {
    s = known ? live_.OnNodeUpdate(node->spec) : live_.OnNodeAdd(node->spec);
    if (!s.ok() && !known && absl::IsAlreadyExists(s)) s = live_.OnNodeUpdate(node->spec);
  }
  if (!s.ok()) {
    Warn("node not applied to the model", {{"node", name}, {"error", MessageOf(s)}});
    return;
  }
  r.known[name] = {name};
  // Pods that were bound to it before it arrived.
  std::map<PodUid, Parked> waiting;
  {
    MutexLock l(&mu_);
    if (auto it = parked_.find(NodeId(name)); it != parked_.end()) {
      waiting = std::move(it->second);
      parked_.erase(it);
    }
  }
  for (auto& [uid, p] : waiting) BindIntoModel(p.pod, NodeId(name), std::move(p.gpus));
}

void Informer::BindIntoModel(const framework::PodInfo& pod, const NodeId& node,
                             std::vector<framework::GpuShare> gpus) {
  absl::Status s = live_.OnPodBound(pod, node, gpus);
  if (absl::IsNotFound(s)) {
    MutexLock l(&mu_);
    parked_[node][pod.uid] = Parked{pod, std::move(gpus)};
    return;
  }
  if (!s.ok()) {
    Warn("bound pod not applied to the model",
         {{"pod", pod.FullName()}, {"node", node.str()}, {"error", MessageOf(s)}});
  }
}

bool Informer::IsAgentPod(const PodObject& pod) const {
  if (!options_.on_agent || pod.info.namespace_name != options_.agent_namespace) return false;
  for (const auto& [k, v] : options_.agent_labels) {
    auto it = pod.info.labels.find(k);
    if (it == pod.info.labels.end() || it->second != v) return false;
  }
  return true;
}

void Informer::NoteAgentPod(const std::string& key, const PodObject& pod) {
  if (!IsAgentPod(pod) || pod.node_name.empty()) return;
  const bool up = pod.phase == "Running" && !pod.terminating && !pod.pod_ip.empty();
  // An IPv6 address needs brackets in host:port.
  const std::string host = pod.pod_ip.find(':') != std::string::npos ? absl::StrCat("[", pod.pod_ip, "]") : pod.pod_ip;
  const std::string address = up ? absl::StrCat(host, ":", options_.agent_port) : "";
  {
    MutexLock l(&mu_);
    if (up) agent_pods_[key] = pod.node_name;
    else agent_pods_.erase(key);
  }
  options_.on_agent(pod.node_name, address);
}

void Informer::ForgetAgentPod(const std::string& key) {
  std::string node;
  {
    MutexLock l(&mu_);
    auto it = agent_pods_.find(key);
    if (it == agent_pods_.end()) return;
    node = it->second;
    agent_pods_.erase(it);
  }
  options_.on_agent(node, "");
}

void Informer::UpsertPod(Resource& r, const Json& obj) {
  absl::StatusOr<PodObject> pod = DecodePodJson(obj);
  const std::string key = KeyOf(obj);
  if (!pod.ok()) {
    CountRejected(r);
    Warn("pod rejected; keeping what the model had", {{"error", MessageOf(pod.status())}});
    return;
  }
  framework::PodInfo& info = pod->info;
  if (auto it = r.known.find(key); it != r.known.end() && it->second[0] != info.uid.str()) {
    Remove(r, key);  // same name, new pod
  }
  NoteAgentPod(key, *pod);
  absl::StatusOr<std::optional<framework::GangRef>> gang = state_.ResolveGang(info);
  if (gang.ok()) info.gang = std::move(*gang);
  r.known[key] = {info.uid.str()};
  if (pod->finished()) {
    Remove(r, key);
    return;
  }
  state_.RememberPod(info);
  if (pod->node_name.empty()) return;
  std::vector<framework::GpuShare> gpus;
  if (pod->assignment && pod->assignment->node.str() == pod->node_name) {
    gpus = std::move(pod->assignment->gpus);
  }
  BindIntoModel(info, NodeId(pod->node_name), std::move(gpus));
}

void Informer::UpsertGroups(Resource& r, const Json& obj) {
  std::vector<PodGroupInfo> groups;
  if (r.kind == Kind::kWorkload) {
    absl::StatusOr<std::vector<PodGroupInfo>> w = DecodeWorkloadJson(obj);
    if (w.ok()) groups = std::move(*w);
    else {
      CountRejected(r);
      Warn("workload rejected", {{"error", MessageOf(w.status())}});
      return;
    }
  } else {
    absl::StatusOr<PodGroupInfo> g = DecodePodGroupJson(obj);
    if (!g.ok()) {
      CountRejected(r);
      Warn("PodGroup rejected", {{"error", MessageOf(g.status())}});
      return;
    }
    groups.push_back(std::move(*g));
  }
  const std::string key = KeyOf(obj);
  const std::string ns = groups.empty() ? "" : groups[0].namespace_name;
  std::vector<std::string> names;
  for (PodGroupInfo& g : groups) {
    names.push_back(g.name);
    state_.UpsertGroup(std::move(g));
  }
  // A Workload may have dropped a pod group: remove it (after the upserts, so that the others
  // never disappear in between).
  if (auto it = r.known.find(key); it != r.known.end()) {
    for (const std::string& old : it->second) {
      if (std::find(names.begin(), names.end(), old) == names.end()) {
        state_.RemoveGroup(r.api, ns, old);
      }
    }
  }
  r.known[key] = std::move(names);
}

void Informer::Remove(Resource& r, const std::string& key) {
  auto it = r.known.find(key);
  if (it == r.known.end()) return;
  const std::vector<std::string> handles = std::move(it->second);
  r.known.erase(it);
  const std::string ns = key.find('/') == std::string::npos ? "" : key.substr(0, key.find('/'));
  switch (r.kind) {
    case Kind::kNode: {
      absl::Status s = options_.nodes != nullptr ? options_.nodes->OnApiNodeDelete(NodeId(handles[0]))
                                                 : live_.OnNodeDelete(NodeId(handles[0]));
      if (!s.ok() && !absl::IsNotFound(s)) {
        Warn("node removal failed", {{"node", handles[0]}, {"error", MessageOf(s)}});
      }
      MutexLock l(&mu_);
      parked_.erase(NodeId(handles[0]));
      break;
    }
    case Kind::kPod: {
      ForgetAgentPod(key);
      const PodUid uid(handles[0]);
      state_.ForgetPod(uid);
      {
        MutexLock l(&mu_);
        for (auto& [node, pods] : parked_) pods.erase(uid);
      }
      absl::Status s = live_.OnPodDeleted(uid);
      if (!s.ok() && !absl::IsNotFound(s)) {
        Warn("pod removal failed", {{"pod", key}, {"error", MessageOf(s)}});
      }
      break;
    }
    case Kind::kPodGroup:
    case Kind::kWorkload:
      for (const std::string& name : handles) state_.RemoveGroup(r.api, ns, name);
      break;
  }
}

absl::StatusOr<framework::PodInfo> Informer::FetchPod(const std::string& ns,
                                                     const std::string& name) {
  ASSIGN_OR_RETURN(http::Response resp,
                   api_.Do("GET", absl::StrCat("/api/v1/namespaces/", ns, "/pods/", name)));
  if (resp.status == 404) return absl::NotFoundError("not found in the API server");
  if (resp.status != 200) {
    return absl::UnavailableError(
        absl::StrCat("GET pod: HTTP ", resp.status, ": ", BodyMessage(resp.body)));
  }
  ASSIGN_OR_RETURN(PodObject pod, DecodePod(std::string_view(resp.body)));
  RETURN_IF_ERROR(pod.request_error);
  absl::StatusOr<std::optional<framework::GangRef>> gang = state_.ResolveGang(pod.info);
  if (gang.ok()) pod.info.gang = std::move(*gang);
  return pod.info;
}

}  // namespace gpusched::extender::k8s

#include "extender/k8s/objects.h"

#include <algorithm>
#include <cstdint>
#include <exception>
#include <limits>
#include <set>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/quantity.h"
#include "common/status_macros.h"
#include "extender/json_depth.h"
#include "nlohmann/json.hpp"
#include "scheduler/api/resource_names.h"
#include "topology/presets.h"

namespace gpusched::extender::k8s {
namespace {

using Json = nlohmann::json;
using plugins::gang::PodGroupInfo;

constexpr int64_t kInt32Min = std::numeric_limits<int32_t>::min();
constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();

// A JSON value for an error message: compact, cut short so that a huge object cannot flood the
// log, and with invalid UTF-8 replaced (dump would otherwise throw on it).
std::string Describe(const Json& v) {
  std::string s = v.dump(-1, ' ', false, Json::error_handler_t::replace);
  constexpr size_t kMax = 80;
  if (s.size() > kMax) s = s.substr(0, kMax) + "...";
  return s;
}

// nlohmann's message without its "[json.exception.parse_error.101] " tag, which means nothing to
// users.
std::string Untagged(const std::exception& e) {
  std::string what = e.what();
  const size_t end = what.find("] ");
  if (!what.empty() && what[0] == '[' && end != std::string::npos) what = what.substr(end + 2);
  return what;
}


// Reads fields of one object, building errors of the form "<kind> <ns>/<name>: <path>: <what>".
class Reader {
 public:
  explicit Reader(std::string_view kind) : prefix_(kind) {}

  // Called once the object's name is known, so later errors say which object failed.
  void Name(std::string_view ns, std::string_view name) {
    prefix_ = absl::StrCat(prefix_, " ", std::string(ns), "/", std::string(name));
  }

  absl::Status Error(std::string_view path, std::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(prefix_, ": ", std::string(path),
                                                   path.empty() ? "" : ": ", std::string(what)));
  }
  absl::Status Error(std::string_view path, std::string_view what, const Json& got) const {
    return Error(path, absl::StrCat(std::string(what), ", got ", Describe(got)));
  }

  // Parses `text`. nlohmann reports the byte where parsing failed; keep it in the message.
  absl::StatusOr<Json> Parse(std::string_view text) const {
    if (const size_t at = TooDeepAt(text); at != 0) {
      return Error("", absl::StrCat("invalid JSON at byte ", at, ": nested deeper than ",
                                    kMaxJsonDepth, " levels"));
    }
    try {
      Json doc = Json::parse(text.data(), text.data() + text.size());
      if (!doc.is_object()) return Error("", "must be a JSON object", doc);
      return doc;
    } catch (const Json::parse_error& e) {
      return Error("", absl::StrCat("invalid JSON at byte ", e.byte, ": ", Untagged(e)));
    } catch (const Json::exception& e) {
      // Not a syntax error but still bad input, e.g. out_of_range.406 for "1e999", a number too
      // large for a double; nlohmann gives no byte position for those.
      return Error("", absl::StrCat("invalid JSON: ", Untagged(e)));
    }
  }

  // obj[key], or nullptr when absent or null (Kubernetes treats both as unset).
  static const Json* Member(const Json& obj, std::string_view key) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return nullptr;
    return &*it;
  }

  // An optional object member; nullptr when unset.
  absl::StatusOr<const Json*> Object(const Json& obj, std::string_view key,
                                     std::string_view path) const {
    const Json* v = Member(obj, key);
    if (v != nullptr && !v->is_object()) return Error(path, "must be an object", *v);
    return v;
  }

  absl::StatusOr<std::optional<std::string>> String(const Json& obj, std::string_view key,
                                                    std::string_view path) const {
    const Json* v = Member(obj, key);
    if (v == nullptr) return std::optional<std::string>();
    if (!v->is_string()) return Error(path, "must be a string", *v);
    return std::optional<std::string>(v->get<std::string>());
  }

  // An optional integer in [min, max]. JSON floats are rejected even when integral ("4.0"): the
  // API server's Go decoder rejects them for integer fields too.
  absl::StatusOr<std::optional<int64_t>> Integer(const Json& obj, std::string_view key,
                                                 std::string_view path, int64_t min,
                                                 int64_t max) const {
    const Json* v = Member(obj, key);
    if (v == nullptr) return std::optional<int64_t>();
    bool ok = false;
    int64_t n = 0;
    if (v->is_number_unsigned()) {
      const uint64_t u = v->get<uint64_t>();
      ok = u <= static_cast<uint64_t>(max);
      n = static_cast<int64_t>(u);
    } else if (v->is_number_integer()) {
      n = v->get<int64_t>();
      ok = true;
    }
    if (!ok || n < min || n > max) {
      return Error(path, absl::StrCat("must be an integer in ", min, "..", max), *v);
    }
    return std::optional<int64_t>(n);
  }

  // A required integer in 1..INT32_MAX.
  absl::StatusOr<int32_t> PositiveInt32(const Json& obj, std::string_view key,
                                        std::string_view path) const {
    ASSIGN_OR_RETURN(std::optional<int64_t> n, Integer(obj, key, path, 1, kInt32Max));
    if (!n.has_value()) return Error(path, "required");
    return static_cast<int32_t>(*n);
  }

  // A map of strings (labels, annotations); empty when unset.
  absl::StatusOr<std::map<std::string, std::string>> StringMap(const Json& obj,
                                                               std::string_view key,
                                                               std::string_view path) const {
    std::map<std::string, std::string> out;
    ASSIGN_OR_RETURN(const Json* m, Object(obj, key, path));
    if (m == nullptr) return out;
    for (auto it = m->begin(); it != m->end(); ++it) {
      if (!it->is_string()) {
        return Error(absl::StrCat(std::string(path), "[", Describe(Json(it.key())), "]"),
                     "must be a string", *it);
      }
      out.emplace(it.key(), it->get<std::string>());
    }
    return out;
  }

 private:
  std::string prefix_;
};

struct ObjectMeta {
  std::string namespace_name;
  std::string name;
};

// metadata.name (required) and metadata.namespace (default "default"); names the reader.
absl::StatusOr<ObjectMeta> ReadMeta(const Json& doc, Reader& r) {
  ASSIGN_OR_RETURN(const Json* meta, r.Object(doc, "metadata", "metadata"));
  if (meta == nullptr) return r.Error("metadata.name", "required");
  ObjectMeta out;
  ASSIGN_OR_RETURN(std::optional<std::string> name, r.String(*meta, "name", "metadata.name"));
  if (!name.has_value() || name->empty()) return r.Error("metadata.name", "required");
  ASSIGN_OR_RETURN(std::optional<std::string> ns,
                   r.String(*meta, "namespace", "metadata.namespace"));
  out.name = std::move(*name);
  out.namespace_name = ns.has_value() && !ns->empty() ? std::move(*ns) : "default";
  r.Name(out.namespace_name, out.name);
  return out;
}

// A quantity as the API server writes it (a string) or as a manifest may (a JSON integer).
absl::StatusOr<std::string> QuantityText(const Json& v, std::string_view path, const Reader& r) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return v.dump();
  return r.Error(path, "must be a quantity string such as \"4\" or \"16Gi\"", v);
}

// spec.minResources: cpu, memory and whole GPUs. Other names (ephemeral-storage, HAMi or share
// resources, ...) are ignored: minResources is a sum over the group, and a sum of GPU shares has
// no meaning as one GpuRequest.
absl::StatusOr<framework::PodResources> ReadMinResources(const Json& spec, const Reader& r) {
  framework::PodResources out;
  ASSIGN_OR_RETURN(const Json* m, r.Object(spec, "minResources", "spec.minResources"));
  if (m == nullptr) return out;
  for (auto it = m->begin(); it != m->end(); ++it) {
    const std::string& name = it.key();
    if (name != "cpu" && name != "memory" && name != framework::kNvidiaGpu) continue;
    const std::string path = absl::StrCat("spec.minResources[\"", name, "\"]");
    ASSIGN_OR_RETURN(std::string text, QuantityText(*it, path, r));
    if (name == "cpu") {
      absl::StatusOr<MilliCpu> cpu = ParseMilliCpu(text);
      if (!cpu.ok()) return r.Error(path, std::string(cpu.status().message()));
      out.cpu = *cpu;
    } else if (name == "memory") {
      absl::StatusOr<MemoryBytes> mem = ParseMemoryBytes(text);
      if (!mem.ok()) return r.Error(path, std::string(mem.status().message()));
      out.memory = *mem;
    } else {
      absl::StatusOr<Quantity> q = Quantity::Parse(text);
      if (!q.ok()) return r.Error(path, std::string(q.status().message()));
      absl::StatusOr<int64_t> n = q->ToScaled(0, text);
      if (!n.ok() || *n < 0 || *n > kInt32Max) {
        return r.Error(path, "must be a whole number of GPUs", *it);
      }
      if (*n > 0) out.gpu = framework::GpuRequest::Whole(static_cast<int32_t>(*n));
    }
  }
  return out;
}

absl::Status ReadSchedulerPluginsSpec(const Json& spec, const Reader& r, PodGroupInfo& out) {
  ASSIGN_OR_RETURN(out.min_member, r.PositiveInt32(spec, "minMember", "spec.minMember"));
  ASSIGN_OR_RETURN(
      std::optional<int64_t> timeout,
      r.Integer(spec, "scheduleTimeoutSeconds", "spec.scheduleTimeoutSeconds", 1, kInt32Max));
  if (timeout.has_value()) out.timeout = absl::Seconds(*timeout);
  ASSIGN_OR_RETURN(out.min_resources, ReadMinResources(spec, r));
  return absl::OkStatus();
}

absl::Status ReadVolcanoSpec(const Json& spec, const Reader& r, PodGroupInfo& out) {
  ASSIGN_OR_RETURN(out.min_member, r.PositiveInt32(spec, "minMember", "spec.minMember"));
  ASSIGN_OR_RETURN(out.min_resources, ReadMinResources(spec, r));
  return absl::OkStatus();
}

// The path is confirmed by the v1alpha2 API reference (kubernetes.io "PodGroup API": "Each
// PodGroup carries a scheduling policy (basic or gang) in spec.schedulingPolicy") and the
// generated v1.36 types (PodGroupSpec.schedulingPolicy, GangSchedulingPolicy.minCount).
// `spec.policy` was the field name of PodGroups embedded in a v1alpha1 Workload; say so rather
// than guess, since a misread quorum would break the gang.
absl::Status ReadUpstreamSpec(const Json& spec, const Reader& r, PodGroupInfo& out) {
  ASSIGN_OR_RETURN(const Json* policy, r.Object(spec, "schedulingPolicy", "spec.schedulingPolicy"));
  if (policy == nullptr) {
    if (Reader::Member(spec, "policy") != nullptr) {
      return r.Error("spec.schedulingPolicy",
                     "required (spec.policy is the v1alpha1 Workload field; a "
                     "scheduling.k8s.io/v1alpha2 PodGroup uses spec.schedulingPolicy)");
    }
    return r.Error("spec.schedulingPolicy", "required (one of basic, gang)");
  }
  ASSIGN_OR_RETURN(const Json* gang, r.Object(*policy, "gang", "spec.schedulingPolicy.gang"));
  ASSIGN_OR_RETURN(const Json* basic, r.Object(*policy, "basic", "spec.schedulingPolicy.basic"));
  if ((gang == nullptr) == (basic == nullptr)) {
    return r.Error("spec.schedulingPolicy", "exactly one of basic, gang must be set", *policy);
  }
  out.timeout = plugins::gang::kUpstreamGangTimeout;
  if (basic != nullptr) {
    out.gang = false;
    out.min_member = 0;
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(out.min_member,
                   r.PositiveInt32(*gang, "minCount", "spec.schedulingPolicy.gang.minCount"));
  return absl::OkStatus();
}

absl::StatusOr<PodGroupInfo> DecodePodGroupOrThrow(const Json& doc) {
  Reader r("PodGroup");
  if (!doc.is_object()) return r.Error("", "must be a JSON object", doc);
  ASSIGN_OR_RETURN(ObjectMeta meta, ReadMeta(doc, r));
  PodGroupInfo out;
  out.namespace_name = std::move(meta.namespace_name);
  out.name = std::move(meta.name);

  ASSIGN_OR_RETURN(std::optional<std::string> kind, r.String(doc, "kind", "kind"));
  if (!kind.has_value()) return r.Error("kind", "required (\"PodGroup\")");
  if (*kind != "PodGroup") return r.Error("kind", "must be \"PodGroup\"", Json(*kind));
  ASSIGN_OR_RETURN(std::optional<std::string> api, r.String(doc, "apiVersion", "apiVersion"));
  const std::string api_version = api.value_or("");
  using Api = PodGroupInfo::Api;
  bool known = false;
  for (Api a : {Api::kSchedulerPlugins, Api::kUpstream, Api::kUpstreamBeta, Api::kVolcano}) {
    if (api_version == plugins::gang::ApiVersion(a)) {
      out.api = a;
      known = true;
    }
  }
  if (!known) {
    constexpr std::string_view kKnown =
        "one of scheduling.x-k8s.io/v1alpha1, scheduling.k8s.io/v1alpha2, "
        "scheduling.k8s.io/v1beta1, scheduling.volcano.sh/v1beta1";
    if (!api.has_value()) {
      return r.Error("apiVersion", absl::StrCat("required (", std::string(kKnown), ")"));
    }
    return r.Error("apiVersion", absl::StrCat("must be ", std::string(kKnown)), Json(*api));
  }

  ASSIGN_OR_RETURN(const Json* spec, r.Object(doc, "spec", "spec"));
  static const Json kEmpty = Json::object();
  if (spec == nullptr) spec = &kEmpty;  // then the required fields report themselves
  switch (out.api) {
    case Api::kSchedulerPlugins:
      RETURN_IF_ERROR(ReadSchedulerPluginsSpec(*spec, r, out));
      break;
    case Api::kUpstream:
    case Api::kUpstreamBeta:
      RETURN_IF_ERROR(ReadUpstreamSpec(*spec, r, out));
      break;
    case Api::kVolcano:
      RETURN_IF_ERROR(ReadVolcanoSpec(*spec, r, out));
      break;
    case Api::kWorkload:
      return r.Error("kind", "a Workload is decoded by DecodeWorkload");
  }
  return out;
}

// A v1alpha1 Workload: spec.podGroups[] {name, policy: {gang: {minCount}} | {basic: {}}}, one
// PodGroupInfo per pod group, named "<workload>/<pod group>".
absl::StatusOr<std::vector<PodGroupInfo>> DecodeWorkloadOrThrow(const Json& doc) {
  Reader r("Workload");
  if (!doc.is_object()) return r.Error("", "must be a JSON object", doc);
  ASSIGN_OR_RETURN(ObjectMeta meta, ReadMeta(doc, r));
  ASSIGN_OR_RETURN(std::optional<std::string> kind, r.String(doc, "kind", "kind"));
  if (kind.value_or("") != "Workload") {
    return r.Error("kind", "must be \"Workload\"", kind ? Json(*kind) : Json());
  }
  ASSIGN_OR_RETURN(std::optional<std::string> api, r.String(doc, "apiVersion", "apiVersion"));
  const std::string_view want = plugins::gang::ApiVersion(PodGroupInfo::Api::kWorkload);
  if (api.value_or("") != want) {
    return r.Error("apiVersion", absl::StrCat("must be \"", std::string(want), "\""),
                   api ? Json(*api) : Json());
  }
  ASSIGN_OR_RETURN(const Json* spec, r.Object(doc, "spec", "spec"));
  const Json* groups = spec == nullptr ? nullptr : Reader::Member(*spec, "podGroups");
  if (groups == nullptr) return r.Error("spec.podGroups", "required (a list of pod groups)");
  if (!groups->is_array() || groups->empty()) {
    return r.Error("spec.podGroups", "must be a non-empty list", *groups);
  }
  std::vector<PodGroupInfo> out;
  std::set<std::string> names;
  for (size_t i = 0; i < groups->size(); ++i) {
    const Json& g = (*groups)[i];
    const std::string path = absl::StrCat("spec.podGroups[", i, "]");
    if (!g.is_object()) return r.Error(path, "must be an object", g);
    ASSIGN_OR_RETURN(std::optional<std::string> name, r.String(g, "name", path + ".name"));
    if (!name || name->empty() || name->find('/') != std::string::npos) {
      return r.Error(path + ".name", "required: a name without '/'");
    }
    if (!names.insert(*name).second) {
      return r.Error(path + ".name", absl::StrCat("duplicate pod group \"", *name, "\""));
    }
    ASSIGN_OR_RETURN(const Json* policy, r.Object(g, "policy", path + ".policy"));
    if (policy == nullptr) return r.Error(path + ".policy", "required (one of basic, gang)");
    ASSIGN_OR_RETURN(const Json* gang, r.Object(*policy, "gang", path + ".policy.gang"));
    ASSIGN_OR_RETURN(const Json* basic, r.Object(*policy, "basic", path + ".policy.basic"));
    if ((gang == nullptr) == (basic == nullptr)) {
      return r.Error(path + ".policy", "exactly one of basic, gang must be set", *policy);
    }
    PodGroupInfo info;
    info.api = PodGroupInfo::Api::kWorkload;
    info.namespace_name = meta.namespace_name;
    info.name = absl::StrCat(meta.name, "/", *name);
    info.timeout = plugins::gang::kUpstreamGangTimeout;
    if (basic != nullptr) {
      info.gang = false;
      info.min_member = 0;
    } else {
      ASSIGN_OR_RETURN(info.min_member,
                       r.PositiveInt32(*gang, "minCount", path + ".policy.gang.minCount"));
    }
    out.push_back(std::move(info));
  }
  return out;
}

absl::StatusOr<framework::PodInfo> DecodePodMetaOrThrow(const Json& doc, Reader& r) {
  if (!doc.is_object()) return r.Error("", "must be a JSON object", doc);
  ASSIGN_OR_RETURN(ObjectMeta meta, ReadMeta(doc, r));
  framework::PodInfo pod;
  pod.namespace_name = std::move(meta.namespace_name);
  pod.name = std::move(meta.name);

  // List items omit apiVersion and kind; when given they must say v1 Pod.
  ASSIGN_OR_RETURN(std::optional<std::string> api, r.String(doc, "apiVersion", "apiVersion"));
  if (api.has_value() && *api != "v1") return r.Error("apiVersion", "must be \"v1\"", Json(*api));
  ASSIGN_OR_RETURN(std::optional<std::string> kind, r.String(doc, "kind", "kind"));
  if (kind.has_value() && *kind != "Pod") return r.Error("kind", "must be \"Pod\"", Json(*kind));

  const Json& md = *Reader::Member(doc, "metadata");  // ReadMeta checked it is an object
  ASSIGN_OR_RETURN(std::optional<std::string> uid, r.String(md, "uid", "metadata.uid"));
  pod.uid = PodUid(uid.has_value() && !uid->empty() ? *uid : pod.FullName());
  ASSIGN_OR_RETURN(pod.labels, r.StringMap(md, "labels", "metadata.labels"));
  ASSIGN_OR_RETURN(pod.annotations, r.StringMap(md, "annotations", "metadata.annotations"));
  ASSIGN_OR_RETURN(std::optional<std::string> created,
                   r.String(md, "creationTimestamp", "metadata.creationTimestamp"));
  if (created.has_value()) {
    std::string err;
    if (!absl::ParseTime(absl::RFC3339_full, *created, &pod.created, &err)) {
      return r.Error(
          "metadata.creationTimestamp",
          absl::StrCat("must be an RFC 3339 time such as \"2026-01-02T15:04:05Z\" (", err, ")"),
          Json(*created));
    }
  }

  ASSIGN_OR_RETURN(const Json* spec, r.Object(doc, "spec", "spec"));
  if (spec == nullptr) return pod;
  ASSIGN_OR_RETURN(std::optional<int64_t> priority,
                   r.Integer(*spec, "priority", "spec.priority", kInt32Min, kInt32Max));
  pod.priority = static_cast<int32_t>(priority.value_or(0));
  ASSIGN_OR_RETURN(const Json* group, r.Object(*spec, "schedulingGroup", "spec.schedulingGroup"));
  if (group != nullptr) {
    ASSIGN_OR_RETURN(std::optional<std::string> name,
                     r.String(*group, "podGroupName", "spec.schedulingGroup.podGroupName"));
    pod.scheduling_group = name.value_or("");
  }
  ASSIGN_OR_RETURN(const Json* workload, r.Object(*spec, "workloadRef", "spec.workloadRef"));
  if (workload != nullptr) {
    ASSIGN_OR_RETURN(std::optional<std::string> name,
                     r.String(*workload, "name", "spec.workloadRef.name"));
    ASSIGN_OR_RETURN(std::optional<std::string> group_name,
                     r.String(*workload, "podGroup", "spec.workloadRef.podGroup"));
    ASSIGN_OR_RETURN(std::optional<std::string> replica,
                     r.String(*workload, "podGroupReplicaKey", "spec.workloadRef.podGroupReplicaKey"));
    if (!name || name->empty()) return r.Error("spec.workloadRef.name", "required");
    if (!group_name || group_name->empty()) return r.Error("spec.workloadRef.podGroup", "required");
    pod.workload_ref = framework::PodInfo::WorkloadRef{*name, *group_name, replica.value_or("")};
  }
  return pod;
}


// ---- Assignment annotation.

absl::StatusOr<Assignment> DecodeAssignmentOrThrow(std::string_view text) {
  Reader r(absl::StrCat("annotation ", std::string(kAssignmentAnnotation)));
  ASSIGN_OR_RETURN(const Json doc, r.Parse(text));
  Assignment out;
  ASSIGN_OR_RETURN(std::optional<std::string> node, r.String(doc, "node", "node"));
  if (!node || node->empty()) return r.Error("node", "required");
  out.node = NodeId(*node);
  const Json* gpus = Reader::Member(doc, "gpus");
  if (gpus == nullptr || !gpus->is_array()) {
    return r.Error("gpus", "required: a list of {index, milli, memoryMiB}",
                   gpus ? *gpus : Json());
  }
  std::set<int64_t> seen;
  for (size_t i = 0; i < gpus->size(); ++i) {
    const Json& g = (*gpus)[i];
    const std::string path = absl::StrCat("gpus[", i, "]");
    if (!g.is_object()) return r.Error(path, "must be an object", g);
    ASSIGN_OR_RETURN(std::optional<int64_t> index,
                     r.Integer(g, "index", path + ".index", 0, 1023));
    ASSIGN_OR_RETURN(std::optional<int64_t> milli,
                     r.Integer(g, "milli", path + ".milli", 0, kOneGpu.value()));
    ASSIGN_OR_RETURN(std::optional<int64_t> mem,
                     r.Integer(g, "memoryMiB", path + ".memoryMiB", 0, kMaxAmount));
    if (!index) return r.Error(path + ".index", "required");
    if (!milli) return r.Error(path + ".milli", "required");
    if (!seen.insert(*index).second) return r.Error(path + ".index", "duplicate device", g);
    out.gpus.push_back(framework::GpuShare{DeviceIndex(static_cast<int32_t>(*index)),
                                           GpuMilli(*milli), GpuMemMiB(mem.value_or(0))});
  }
  return out;
}

// ---- Pods.

using ResourceMap = std::map<std::string, std::string>;

// Whether `name` is one of the GPU resource names GpuRequestFromPod reads.
bool IsGpuResource(std::string_view name) {
  return name == framework::kNvidiaGpu || name == framework::kHamiGpuMem ||
         name == framework::kHamiGpuCores || name == framework::kHamiGpuMemPercentage ||
         name == framework::kAliyunGpuMem || name.substr(0, 12) == "gpusched.io/";
}

// One container's resources: cpu/memory requests (falling back to limits, as the API server
// defaults them) and its GPU resource strings (limits, falling back to requests).
struct ContainerResources {
  MilliCpu cpu{0};
  MemoryBytes memory{0};
  ResourceMap gpu;
};

absl::StatusOr<ContainerResources> ReadContainer(const Json& c, const std::string& path,
                                                 const Reader& r) {
  ContainerResources out;
  if (!c.is_object()) return r.Error(path, "must be an object", c);
  ASSIGN_OR_RETURN(const Json* res, r.Object(c, "resources", path + ".resources"));
  if (res == nullptr) return out;
  ASSIGN_OR_RETURN(const Json* requests,
                   r.Object(*res, "requests", path + ".resources.requests"));
  ASSIGN_OR_RETURN(const Json* limits, r.Object(*res, "limits", path + ".resources.limits"));
  for (const char* name : {"cpu", "memory"}) {
    const Json* v = requests ? Reader::Member(*requests, name) : nullptr;
    std::string where = path + ".resources.requests[\"" + name + "\"]";
    if (v == nullptr && limits != nullptr) {
      v = Reader::Member(*limits, name);
      where = path + ".resources.limits[\"" + name + "\"]";
    }
    if (v == nullptr) continue;
    ASSIGN_OR_RETURN(std::string text, QuantityText(*v, where, r));
    if (std::string_view(name) == "cpu") {
      absl::StatusOr<MilliCpu> cpu = ParseMilliCpu(text);
      if (!cpu.ok()) return r.Error(where, std::string(cpu.status().message()));
      out.cpu = *cpu;
    } else {
      absl::StatusOr<MemoryBytes> mem = ParseMemoryBytes(text);
      if (!mem.ok()) return r.Error(where, std::string(mem.status().message()));
      out.memory = *mem;
    }
  }
  for (const Json* m : {limits, requests}) {
    if (m == nullptr) continue;
    const std::string which = m == limits ? ".resources.limits" : ".resources.requests";
    for (auto it = m->begin(); it != m->end(); ++it) {
      if (!IsGpuResource(it.key()) || out.gpu.count(it.key())) continue;
      ASSIGN_OR_RETURN(std::string text,
                       QuantityText(*it, path + which + "[\"" + it.key() + "\"]", r));
      out.gpu.emplace(it.key(), std::move(text));
    }
  }
  return out;
}

// Adds GPU resource amounts of several containers: they must be whole numbers then.
absl::Status AddGpuResources(ResourceMap& total, const ResourceMap& more, const Reader& r) {
  for (const auto& [name, text] : more) {
    auto [it, inserted] = total.emplace(name, text);
    if (inserted) continue;
    absl::StatusOr<Quantity> a = Quantity::Parse(it->second);
    absl::StatusOr<Quantity> b = Quantity::Parse(text);
    absl::StatusOr<int64_t> x = a.ok() ? a->ToScaled(0, it->second) : a.status();
    absl::StatusOr<int64_t> y = b.ok() ? b->ToScaled(0, text) : b.status();
    if (!x.ok() || !y.ok() || *x < 0 || *y < 0 || *x > kMaxAmount || *y > kMaxAmount) {
      return r.Error(absl::StrCat("spec.containers[*].resources[\"", name, "\"]"),
                     absl::StrCat("given in several containers, so each must be a whole "
                                  "number; got \"", it->second, "\" and \"", text, "\""));
    }
    it->second = absl::StrCat(*x + *y);
  }
  return absl::OkStatus();
}

absl::StatusOr<framework::TaintEffect> ReadEffect(const Json* v, const std::string& path,
                                                  const Reader& r) {
  if (v == nullptr || !v->is_string()) {
    return r.Error(path, "must be NoSchedule, PreferNoSchedule or NoExecute", v ? *v : Json());
  }
  const std::string e = v->get<std::string>();
  if (e == "NoSchedule") return framework::TaintEffect::kNoSchedule;
  if (e == "PreferNoSchedule") return framework::TaintEffect::kPreferNoSchedule;
  if (e == "NoExecute") return framework::TaintEffect::kNoExecute;
  return r.Error(path, "must be NoSchedule, PreferNoSchedule or NoExecute", *v);
}

absl::Status ReadTolerations(const Json& spec, const Reader& r,
                             std::vector<framework::Toleration>& out) {
  const Json* list = Reader::Member(spec, "tolerations");
  if (list == nullptr) return absl::OkStatus();
  if (!list->is_array()) return r.Error("spec.tolerations", "must be a list", *list);
  for (size_t i = 0; i < list->size(); ++i) {
    const Json& t = (*list)[i];
    const std::string path = absl::StrCat("spec.tolerations[", i, "]");
    if (!t.is_object()) return r.Error(path, "must be an object", t);
    framework::Toleration tol;
    ASSIGN_OR_RETURN(std::optional<std::string> key, r.String(t, "key", path + ".key"));
    ASSIGN_OR_RETURN(std::optional<std::string> op, r.String(t, "operator", path + ".operator"));
    ASSIGN_OR_RETURN(std::optional<std::string> value, r.String(t, "value", path + ".value"));
    tol.key = key.value_or("");
    if (op && *op != "Exists" && *op != "Equal") {
      return r.Error(path + ".operator", "must be Exists or Equal", Json(*op));
    }
    tol.exists = op.value_or("Equal") == "Exists";
    tol.value = value.value_or("");
    if (const Json* e = Reader::Member(t, "effect"); e != nullptr && *e != "") {
      ASSIGN_OR_RETURN(tol.effect, ReadEffect(e, path + ".effect", r));
    }
    out.push_back(std::move(tol));
  }
  return absl::OkStatus();
}

absl::StatusOr<PodObject> DecodePodOrThrow(const Json& doc) {
  Reader r("Pod");
  PodObject out;
  ASSIGN_OR_RETURN(out.info, DecodePodMetaOrThrow(doc, r));
  const Json& md = *Reader::Member(doc, "metadata");
  out.terminating = Reader::Member(md, "deletionTimestamp") != nullptr;
  if (const Json* status = Reader::Member(doc, "status"); status != nullptr && status->is_object()) {
    ASSIGN_OR_RETURN(std::optional<std::string> phase,
                     r.String(*status, "phase", "status.phase"));
    out.phase = phase.value_or("");
    ASSIGN_OR_RETURN(std::optional<std::string> ip, r.String(*status, "podIP", "status.podIP"));
    out.pod_ip = ip.value_or("");
  }
  if (auto it = out.info.annotations.find(std::string(kAssignmentAnnotation));
      it != out.info.annotations.end()) {
    absl::StatusOr<Assignment> a = DecodeAssignmentOrThrow(it->second);
    if (!a.ok()) return r.Error("metadata.annotations", std::string(a.status().message()));
    out.assignment = std::move(*a);
  }
  ASSIGN_OR_RETURN(const Json* spec, r.Object(doc, "spec", "spec"));
  if (spec == nullptr) return out;
  ASSIGN_OR_RETURN(std::optional<std::string> node, r.String(*spec, "nodeName", "spec.nodeName"));
  out.node_name = node.value_or("");
  ASSIGN_OR_RETURN(std::optional<std::string> sched,
                   r.String(*spec, "schedulerName", "spec.schedulerName"));
  out.scheduler_name = sched.value_or("default-scheduler");
  ASSIGN_OR_RETURN(out.info.node_selector,
                   r.StringMap(*spec, "nodeSelector", "spec.nodeSelector"));
  RETURN_IF_ERROR(ReadTolerations(*spec, r, out.info.tolerations));

  ResourceMap gpu;
  framework::PodResources& req = out.info.requests;
  for (const char* list_name : {"containers", "initContainers"}) {
    const Json* list = Reader::Member(*spec, list_name);
    if (list == nullptr) continue;
    const std::string base = absl::StrCat("spec.", list_name);
    if (!list->is_array()) return r.Error(base, "must be a list", *list);
    const bool init = std::string_view(list_name) == "initContainers";
    for (size_t i = 0; i < list->size(); ++i) {
      ASSIGN_OR_RETURN(ContainerResources c,
                       ReadContainer((*list)[i], absl::StrCat(base, "[", i, "]"), r));
      if (init) {  // init containers run one at a time, before the others
        req.cpu = std::max(req.cpu, c.cpu);
        req.memory = std::max(req.memory, c.memory);
        for (const auto& [name, text] : c.gpu) gpu.emplace(name, text);
      } else {
        if (c.cpu.value() > kMaxAmount - req.cpu.value() ||
            c.memory.value() > kMaxAmount - req.memory.value()) {
          return r.Error(base, "the containers' requests add up to more than can be held");
        }
        req.cpu += c.cpu;
        req.memory += c.memory;
        RETURN_IF_ERROR(AddGpuResources(gpu, c.gpu, r));
      }
    }
  }
  absl::StatusOr<framework::GpuRequest> g = framework::GpuRequestFromPod(gpu, out.info.annotations);
  if (g.ok()) {
    req.gpu = std::move(*g);
  } else {
    out.request_error = r.Error("spec.containers[*].resources", std::string(g.status().message()));
  }
  return out;
}

// ---- Nodes.

// A whole number from a label or allocatable quantity, or nullopt when absent.
absl::StatusOr<std::optional<int64_t>> WholeNumber(const std::map<std::string, std::string>& m,
                                                   std::string_view key, std::string_view path,
                                                   int64_t max, const Reader& r) {
  auto it = m.find(std::string(key));
  if (it == m.end()) return std::optional<int64_t>();
  absl::StatusOr<Quantity> q = Quantity::Parse(it->second);
  absl::StatusOr<int64_t> n = q.ok() ? q->ToScaled(0, it->second) : q.status();
  if (!n.ok() || *n < 0 || *n > max) {
    return r.Error(absl::StrCat(std::string(path), "[\"", std::string(key), "\"]"),
                   absl::StrCat("must be a whole number in 0..", max), Json(it->second));
  }
  return std::optional<int64_t>(*n);
}

// "NVIDIA-A100-SXM4-80GB" -> 81920 MiB; 0 when the name carries no "<N>GB".
int64_t MemoryFromProductName(std::string_view product) {
  for (size_t i = product.find("GB"); i != std::string_view::npos;
       i = product.find("GB", i + 1)) {
    size_t b = i;
    while (b > 0 && product[b - 1] >= '0' && product[b - 1] <= '9') --b;
    if (b == i || i - b > 4) continue;
    int64_t gb = 0;
    for (size_t k = b; k < i; ++k) gb = gb * 10 + (product[k] - '0');
    if (gb > 0) return gb * 1024;
  }
  return 0;
}

constexpr int64_t kMaxGpusPerNode = 1024;

// A HAMi device type as GPU Feature Discovery would name the product: HAMi prefixes NVML's name
// with "NVIDIA-" ("NVIDIA-NVIDIA A100-SXM4-80GB", "NVIDIA-Tesla V100-PCIE-32GB"); GFD replaces
// its spaces with dashes ("NVIDIA-A100-SXM4-80GB", "Tesla-V100-PCIE-32GB").
std::string HamiModel(std::string_view type) {
  std::string out(type);
  constexpr std::string_view kPrefix = "NVIDIA-";
  if (out.rfind(kPrefix, 0) == 0 && out.find(' ') != std::string::npos) out.erase(0, kPrefix.size());
  std::replace(out.begin(), out.end(), ' ', '-');
  return out;
}

// The GPUs HAMi's device plugin registered in kHamiRegisterAnnotation (objects.h), in either
// encoding: "UUID,split,memoryMiB,cores,type,numa,healthy" entries each ended by ':' (HAMi up to
// 2.4), or a JSON list of {"id","count","devmem","devcore","type","numa","health"} (later).
absl::StatusOr<std::vector<framework::GpuDevice>> HamiDevices(std::string_view value,
                                                              const Reader& r) {
  const std::string path =
      absl::StrCat("metadata.annotations[\"", std::string(kHamiRegisterAnnotation), "\"]");
  std::vector<framework::GpuDevice> out;
  auto add = [&](size_t i, std::string_view type, int64_t mem, bool healthy) -> absl::Status {
    if (mem <= 0 || mem > kMaxAmount) {
      return r.Error(path, absl::StrCat("device ", i, ": memory must be a positive number of MiB"));
    }
    if (out.size() >= static_cast<size_t>(kMaxGpusPerNode)) {
      return r.Error(path, absl::StrCat("more than ", kMaxGpusPerNode, " devices"));
    }
    out.push_back(framework::GpuDevice{HamiModel(type), GpuMemMiB(mem), healthy, -1});
    return absl::OkStatus();
  };
  const absl::string_view text = absl::StripAsciiWhitespace(absl::string_view(value.data(), value.size()));
  if (!text.empty() && text.front() == '[') {
    if (TooDeepAt(std::string_view(text.data(), text.size())) != 0) {
      return r.Error(path, "nested too deep");
    }
    const Json doc = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded() || !doc.is_array()) return r.Error(path, "must be a JSON list of devices");
    for (size_t i = 0; i < doc.size(); ++i) {
      const Json& d = doc[i];
      const Json* mem = d.is_object() ? Reader::Member(d, "devmem") : nullptr;
      if (mem == nullptr || !mem->is_number_integer()) {
        return r.Error(path, absl::StrCat("device ", i, ": devmem (MiB) must be an integer"));
      }
      const Json* type = Reader::Member(d, "type");
      const Json* health = Reader::Member(d, "health");
      if ((type != nullptr && !type->is_string()) || (health != nullptr && !health->is_boolean())) {
        return r.Error(path, absl::StrCat("device ", i, ": type must be a string, health a boolean"));
      }
      RETURN_IF_ERROR(add(i, type != nullptr ? type->get_ref<const std::string&>() : "",
                          mem->get<int64_t>(), health == nullptr || health->get<bool>()));
    }
    return out;
  }
  size_t i = 0;
  for (absl::string_view entry : absl::StrSplit(text, ':', absl::SkipWhitespace())) {
    const std::vector<absl::string_view> f = absl::StrSplit(entry, ',');
    if (f.size() < 7) {
      return r.Error(path, absl::StrCat("device ", i, ": expected id,split,memoryMiB,cores,type,"
                                        "numa,healthy; got ", f.size(), " fields"));
    }
    int64_t mem = 0;
    if (!absl::SimpleAtoi(f[2], &mem)) {
      return r.Error(path, absl::StrCat("device ", i, ": memory \"", std::string(f[2]),
                                        "\" is not a number of MiB"));
    }
    RETURN_IF_ERROR(add(i, std::string_view(f[4].data(), f[4].size()), mem, f[6] == "true"));
    ++i;
  }
  return out;
}

// `count` devices described once: memory per GPU from the GFD label, else allocatable
// aliyun.com/gpu-mem (GiB over all GPUs) divided by the count, else the product name; 1 MiB and
// memory_unknown when nothing says.
absl::Status UniformGpus(const std::map<std::string, std::string>& alloc, const std::string& model,
                         int64_t count, const Reader& r, NodeObject& out) {
  ASSIGN_OR_RETURN(std::optional<int64_t> memory,
                   WholeNumber(out.spec.labels, kGfdMemory, "metadata.labels", kMaxAmount, r));
  if (!memory || *memory == 0) {
    ASSIGN_OR_RETURN(std::optional<int64_t> gib, WholeNumber(alloc, framework::kAliyunGpuMem,
                                                            "status.allocatable", kMaxAmount, r));
    if (gib && *gib > 0) memory = *gib * 1024 / count;
  }
  if (!memory || *memory == 0) memory = MemoryFromProductName(model);
  if (*memory == 0) {
    memory = 1;
    out.memory_unknown = true;
  }
  for (int64_t i = 0; i < count; ++i) {
    out.spec.gpus.push_back(framework::GpuDevice{model, GpuMemMiB(*memory), true, -1});
  }
  return absl::OkStatus();
}

absl::StatusOr<NodeObject> DecodeNodeOrThrow(const Json& doc) {
  Reader r("Node");
  if (!doc.is_object()) return r.Error("", "must be a JSON object", doc);
  ASSIGN_OR_RETURN(const Json* md, r.Object(doc, "metadata", "metadata"));
  if (md == nullptr) return r.Error("metadata.name", "required");
  ASSIGN_OR_RETURN(std::optional<std::string> name, r.String(*md, "name", "metadata.name"));
  if (!name || name->empty()) return r.Error("metadata.name", "required");
  r = Reader(absl::StrCat("Node ", *name));
  NodeObject out;
  framework::NodeSpec& spec = out.spec;
  spec.name = NodeId(*name);
  ASSIGN_OR_RETURN(spec.labels, r.StringMap(*md, "labels", "metadata.labels"));

  ASSIGN_OR_RETURN(const Json* s, r.Object(doc, "spec", "spec"));
  if (s != nullptr) {
    if (const Json* u = Reader::Member(*s, "unschedulable"); u != nullptr) {
      if (!u->is_boolean()) return r.Error("spec.unschedulable", "must be a boolean", *u);
      spec.unschedulable = u->get<bool>();
    }
    if (const Json* taints = Reader::Member(*s, "taints"); taints != nullptr) {
      if (!taints->is_array()) return r.Error("spec.taints", "must be a list", *taints);
      for (size_t i = 0; i < taints->size(); ++i) {
        const Json& t = (*taints)[i];
        const std::string path = absl::StrCat("spec.taints[", i, "]");
        if (!t.is_object()) return r.Error(path, "must be an object", t);
        framework::Taint taint;
        ASSIGN_OR_RETURN(std::optional<std::string> key, r.String(t, "key", path + ".key"));
        if (!key || key->empty()) return r.Error(path + ".key", "required");
        ASSIGN_OR_RETURN(std::optional<std::string> value, r.String(t, "value", path + ".value"));
        taint.key = *key;
        taint.value = value.value_or("");
        ASSIGN_OR_RETURN(taint.effect, ReadEffect(Reader::Member(t, "effect"), path + ".effect", r));
        spec.taints.push_back(std::move(taint));
      }
    }
  }

  std::map<std::string, std::string> alloc;
  ASSIGN_OR_RETURN(const Json* status, r.Object(doc, "status", "status"));
  if (status != nullptr) {
    ASSIGN_OR_RETURN(const Json* a, r.Object(*status, "allocatable", "status.allocatable"));
    if (a != nullptr) {
      for (auto it = a->begin(); it != a->end(); ++it) {
        ASSIGN_OR_RETURN(std::string text,
                         QuantityText(*it, "status.allocatable[\"" + it.key() + "\"]", r));
        alloc.emplace(it.key(), std::move(text));
      }
    }
  }
  if (auto it = alloc.find("cpu"); it != alloc.end()) {
    absl::StatusOr<MilliCpu> cpu = ParseMilliCpu(it->second);
    if (!cpu.ok()) return r.Error("status.allocatable[\"cpu\"]", std::string(cpu.status().message()));
    spec.cpu = *cpu;
  }
  if (auto it = alloc.find("memory"); it != alloc.end()) {
    absl::StatusOr<MemoryBytes> mem = ParseMemoryBytes(it->second);
    if (!mem.ok()) {
      return r.Error("status.allocatable[\"memory\"]", std::string(mem.status().message()));
    }
    spec.memory = *mem;
  }
  ASSIGN_OR_RETURN(std::optional<int64_t> pods,
                   WholeNumber(alloc, "pods", "status.allocatable", kInt32Max, r));
  spec.max_pods = static_cast<int32_t>(pods.value_or(110));

  // GPUs.
  ASSIGN_OR_RETURN(std::optional<int64_t> count,
                   WholeNumber(spec.labels, kGfdCount, "metadata.labels", kMaxGpusPerNode, r));
  std::string model;
  if (auto it = spec.labels.find(std::string(kGfdProduct)); it != spec.labels.end()) {
    model = it->second;
  }
  if (!count) {
    // HAMi's list of devices: its allocatable nvidia.com/gpu counts virtual GPUs.
    ASSIGN_OR_RETURN(const auto annotations,
                     r.StringMap(*md, "annotations", "metadata.annotations"));
    if (auto it = annotations.find(std::string(kHamiRegisterAnnotation)); it != annotations.end()) {
      ASSIGN_OR_RETURN(spec.gpus, HamiDevices(it->second, r));
      if (!model.empty()) {
        for (framework::GpuDevice& g : spec.gpus) g.model = model;
      }
      count = static_cast<int64_t>(spec.gpus.size());
    }
  }
  if (!count) {
    ASSIGN_OR_RETURN(count, WholeNumber(alloc, framework::kNvidiaGpu, "status.allocatable",
                                        kMaxGpusPerNode, r));
  }
  if (!count) {
    ASSIGN_OR_RETURN(count, WholeNumber(alloc, "aliyun.com/gpu-count", "status.allocatable",
                                        kMaxGpusPerNode, r));
  }
  if (count.value_or(0) == 0) return out;
  if (spec.gpus.empty()) RETURN_IF_ERROR(UniformGpus(alloc, model, *count, r, out));
  if (auto it = spec.labels.find(std::string(kTopologyPresetLabel)); it != spec.labels.end()) {
    absl::StatusOr<topology::GpuTopology> t = topology::Preset(it->second);
    if (!t.ok()) {
      return r.Error(absl::StrCat("metadata.labels[\"", std::string(kTopologyPresetLabel), "\"]"),
                     std::string(t.status().message()));
    }
    if (t->gpu_count() != *count) {
      return r.Error(absl::StrCat("metadata.labels[\"", std::string(kTopologyPresetLabel), "\"]"),
                     absl::StrCat("preset \"", it->second, "\" has ", t->gpu_count(),
                                  " GPUs but the node has ", *count));
    }
    spec.topology = std::make_shared<const topology::GpuTopology>(std::move(*t));
  }
  return out;
}

// Runs `decode` on the parsed `json`, or reports why it does not parse. The readers check every
// type before reading, so nlohmann should never throw past Parse; the catch is the backstop that
// keeps the promise "never throws" if a path was missed.
template <class F>
auto Guarded(std::string_view kind, F&& decode) -> decltype(decode()) {
  try {
    return decode();
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat(std::string(kind), ": unexpected decoder failure: ", e.what()));
  }
}

template <class F>
auto ParseThen(std::string_view kind, std::string_view json, F&& decode)
    -> decltype(decode(std::declval<const Json&>())) {
  return Guarded(kind, [&]() -> decltype(decode(std::declval<const Json&>())) {
    Reader r(kind);
    ASSIGN_OR_RETURN(const Json doc, r.Parse(json));
    return decode(doc);
  });
}

}  // namespace

absl::StatusOr<plugins::gang::PodGroupInfo> DecodePodGroup(std::string_view json) {
  return ParseThen("PodGroup", json, [](const Json& d) { return DecodePodGroupOrThrow(d); });
}
absl::StatusOr<plugins::gang::PodGroupInfo> DecodePodGroupJson(const Json& doc) {
  return Guarded("PodGroup", [&] { return DecodePodGroupOrThrow(doc); });
}

absl::StatusOr<std::vector<plugins::gang::PodGroupInfo>> DecodeWorkload(std::string_view json) {
  return ParseThen("Workload", json, [](const Json& d) { return DecodeWorkloadOrThrow(d); });
}
absl::StatusOr<std::vector<plugins::gang::PodGroupInfo>> DecodeWorkloadJson(const Json& doc) {
  return Guarded("Workload", [&] { return DecodeWorkloadOrThrow(doc); });
}

absl::StatusOr<framework::PodInfo> DecodePodMeta(std::string_view json) {
  return ParseThen("Pod", json, [](const Json& d) {
    Reader r("Pod");
    return DecodePodMetaOrThrow(d, r);
  });
}

absl::StatusOr<PodObject> DecodePod(std::string_view json) {
  return ParseThen("Pod", json, [](const Json& d) { return DecodePodOrThrow(d); });
}
absl::StatusOr<PodObject> DecodePodJson(const Json& doc) {
  return Guarded("Pod", [&] { return DecodePodOrThrow(doc); });
}

absl::StatusOr<NodeObject> DecodeNode(std::string_view json) {
  return ParseThen("Node", json, [](const Json& d) { return DecodeNodeOrThrow(d); });
}
absl::StatusOr<NodeObject> DecodeNodeJson(const Json& doc) {
  return Guarded("Node", [&] { return DecodeNodeOrThrow(doc); });
}

std::string EncodeAssignment(const Assignment& a) {
  Json gpus = Json::array();
  for (const framework::GpuShare& g : a.gpus) {
    gpus.push_back({{"index", g.gpu.value()}, {"milli", g.milli.value()},
                    {"memoryMiB", g.memory.value()}});
  }
  return Json{{"node", a.node.str()}, {"gpus", std::move(gpus)}}.dump();
}

std::string StatusMessage(std::string_view body) {
  if (TooDeepAt(body) != 0) return "";
  try {
    const Json j = Json::parse(body.data(), body.data() + body.size());
    if (j.is_object() && j.contains("message") && j["message"].is_string()) {
      return j["message"].get<std::string>();
    }
  } catch (const std::exception&) {
  }
  return "";
}

absl::StatusOr<Assignment> DecodeAssignment(std::string_view text) {
  return Guarded("Assignment", [&] { return DecodeAssignmentOrThrow(text); });
}

}  // namespace gpusched::extender::k8s

#include "extender/k8s/objects.h"

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
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/quantity.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "scheduler/api/resource_names.h"

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

absl::StatusOr<PodGroupInfo> DecodePodGroupOrThrow(std::string_view json) {
  Reader r("PodGroup");
  ASSIGN_OR_RETURN(const Json doc, r.Parse(json));
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
absl::StatusOr<std::vector<PodGroupInfo>> DecodeWorkloadOrThrow(std::string_view json) {
  Reader r("Workload");
  ASSIGN_OR_RETURN(const Json doc, r.Parse(json));
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

absl::StatusOr<framework::PodInfo> DecodePodMetaOrThrow(std::string_view json) {
  Reader r("Pod");
  ASSIGN_OR_RETURN(const Json doc, r.Parse(json));
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

}  // namespace

// The readers check every type before reading, so nlohmann should never throw past Parse; the
// catch is the backstop that keeps the promise "never throws" if a path was missed.
absl::StatusOr<plugins::gang::PodGroupInfo> DecodePodGroup(std::string_view json) {
  try {
    return DecodePodGroupOrThrow(json);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("PodGroup: unexpected decoder failure: ", e.what()));
  }
}

absl::StatusOr<std::vector<plugins::gang::PodGroupInfo>> DecodeWorkload(std::string_view json) {
  try {
    return DecodeWorkloadOrThrow(json);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("Workload: unexpected decoder failure: ", e.what()));
  }
}

absl::StatusOr<framework::PodInfo> DecodePodMeta(std::string_view json) {
  try {
    return DecodePodMetaOrThrow(json);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("Pod: unexpected decoder failure: ", e.what()));
  }
}

}  // namespace gpusched::extender::k8s

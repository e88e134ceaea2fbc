#include "plugins/gang/declaration.h"

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/status_macros.h"

namespace gpusched::plugins::gang {
namespace {

using framework::GangRef;
using framework::PodInfo;
using StringMap = std::map<std::string, std::string>;

constexpr std::string_view kKoordinatorSource = "koordinator annotations";
constexpr std::string_view kKueueSource = "kueue pod group";
constexpr std::string_view kGpuschedSource = "gpusched.io annotations";

enum class Form {
  kSchedulerPlugins, kUpstream, kVolcano, kKoordinator, kKueue, kGpusched, kWorkload
};

// One form found on the pod: its group name and where it was written, for messages.
struct Declaration {
  Form form;
  std::string name;
  std::string where;  // e.g. `label scheduling.x-k8s.io/pod-group="a"`
};

const std::string* Find(const StringMap& m, std::string_view key) {
  auto it = m.find(std::string(key));
  return it == m.end() ? nullptr : &it->second;
}

// Values are user input: escape them so that a quote or a control character cannot garble the
// message; UTF-8 stays readable.
std::string Quote(std::string_view value) {
  return absl::StrCat("\"", absl::Utf8SafeCHexEscape(std::string(value)), "\"");
}

std::string Where(std::string_view kind, std::string_view key, std::string_view value) {
  return absl::StrCat(std::string(kind), " ", std::string(key), "=", Quote(value));
}

std::string PodName(const PodInfo& pod) { return pod.FullName(); }

// Group names become the second half of "namespace/name", so a '/' would make the GangId
// ambiguous; Kubernetes object names never contain one anyway.
absl::Status CheckName(const PodInfo& pod, const Declaration& d) {
  if (d.name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("pod ", PodName(pod), ": ", d.where, ": the group name must not be empty"));
  }
  if (d.name.find('/') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "pod ", PodName(pod), ": ", d.where,
        ": the group name must be an object name in the pod's namespace, without '/'"));
  }
  return absl::OkStatus();
}

// A whole number in 1..INT32_MAX. Digits only: the APIs we mirror parse these with strconv.Atoi
// or as int32 fields, and accepting "+4" or " 4" here would let a manifest work with gpusched
// that fails elsewhere.
absl::StatusOr<int32_t> ParseCount(const PodInfo& pod, std::string_view kind, std::string_view key,
                                   std::string_view value) {
  auto bad = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("pod ", PodName(pod), ": ", Where(kind, key, value),
                     ": must be a whole number in 1..", std::numeric_limits<int32_t>::max()));
  };
  if (value.empty() || value.size() > 10) return bad();
  int64_t n = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return bad();
    n = n * 10 + (c - '0');
  }
  if (n < 1 || n > std::numeric_limits<int32_t>::max()) return bad();
  return static_cast<int32_t>(n);
}

// An optional count: nullopt when the key is absent.
absl::StatusOr<std::optional<int32_t>> ParseOptionalCount(const PodInfo& pod, std::string_view kind,
                                                          const StringMap& map,
                                                          std::string_view key) {
  const std::string* v = Find(map, key);
  if (v == nullptr) return std::optional<int32_t>();
  ASSIGN_OR_RETURN(int32_t n, ParseCount(pod, kind, key, *v));
  return std::optional<int32_t>(n);
}

absl::StatusOr<int32_t> ParseRequiredCount(const PodInfo& pod, const Declaration& d,
                                           std::string_view kind, const StringMap& map,
                                           std::string_view key) {
  const std::string* v = Find(map, key);
  if (v == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("pod ", PodName(pod), ": ", std::string(kind),
                                                   " ", std::string(key), " is required with ",
                                                   d.where));
  }
  return ParseCount(pod, kind, key, *v);
}

// The required minimum annotation and the optional total annotation of a form, into `ref`;
// the minimum may not exceed the total.
absl::Status ParseMinTotal(const PodInfo& pod, const Declaration& d, std::string_view min_key,
                           std::string_view total_key, GangRef& ref) {
  const StringMap& a = pod.annotations;
  ASSIGN_OR_RETURN(ref.min_member, ParseRequiredCount(pod, d, "annotation", a, min_key));
  ASSIGN_OR_RETURN(std::optional<int32_t> total, ParseOptionalCount(pod, "annotation", a, total_key));
  if (!total.has_value()) return absl::OkStatus();
  if (ref.min_member > *total) {
    return absl::InvalidArgumentError(absl::StrCat(
        "pod ", PodName(pod), ": annotation ", std::string(min_key), "=",
        Quote(absl::StrCat(ref.min_member)), " is more than annotation ", std::string(total_key),
        "=", Quote(absl::StrCat(*total))));
  }
  ref.total_member = *total;
  return absl::OkStatus();
}

// Koordinator parses waiting-time with Go's time.ParseDuration; absl::ParseDuration takes the
// same grammar ("600s", "10m", "1h30m", "1.5h") plus "inf", which we reject with <= 0.
absl::StatusOr<absl::Duration> ParseWaitingTime(const PodInfo& pod, std::string_view key,
                                                std::string_view value) {
  absl::Duration d;
  if (!absl::ParseDuration(std::string(value), &d) || d <= absl::ZeroDuration() ||
      d == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("pod ", PodName(pod), ": ", Where("annotation", key, value),
                     ": must be a positive Go duration such as \"600s\" or \"10m\""));
  }
  return d;
}

std::string GroupNotFound(const PodInfo& pod, PodGroupInfo::Api api, const Declaration& d) {
  return absl::StrCat("PodGroup ", pod.namespace_name, "/", d.name, " (",
                      std::string(ApiVersion(api)), ") not found (named by ", d.where, " of pod ",
                      PodName(pod), ")");
}

// The forms that name a PodGroup object: the quorum and timeout come from it.
absl::StatusOr<std::optional<GangRef>> FromPodGroup(const PodInfo& pod, const Declaration& d,
                                                    PodGroupInfo::Api api,
                                                    const PodGroupLister& groups) {
  const PodGroupInfo* group = groups.Find(api, pod.namespace_name, d.name);
  if (group == nullptr) return absl::NotFoundError(GroupNotFound(pod, api, d));
  if (!group->gang) return std::optional<GangRef>();  // upstream basic policy
  // The decoders check this too; PodGroupSet may also be filled by code that does not.
  if (group->min_member < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "PodGroup ", group->namespace_name, "/", group->name, " (", std::string(ApiVersion(api)),
        "): min member ", group->min_member, " must be >= 1"));
  }
  GangRef ref;
  ref.id = GangId(absl::StrCat(pod.namespace_name, "/", d.name));
  ref.min_member = group->min_member;
  ref.timeout = group->timeout;
  ref.source = absl::StrCat(std::string(ApiVersion(api)), " PodGroup");
  ref.min_resources = group->min_resources;
  // Upstream's timeout is fixed (KEP-4671): the object has no field for it.
  if (api == PodGroupInfo::Api::kUpstream || api == PodGroupInfo::Api::kUpstreamBeta) {
    ref.timeout = kUpstreamGangTimeout;
  }
  return std::optional<GangRef>(std::move(ref));
}

// spec.workloadRef: the pod group inside a v1alpha1 Workload; a replica key makes each replica
// of the pod group a gang of its own.
absl::StatusOr<std::optional<GangRef>> FromWorkload(const PodInfo& pod, const Declaration& d,
                                                    const PodGroupLister& groups) {
  const PodInfo::WorkloadRef& w = *pod.workload_ref;
  if (w.pod_group.empty() || w.pod_group.find('/') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "pod ", PodName(pod), ": ", d.where,
        ": podGroup must name a pod group of the Workload (not empty, without '/')"));
  }
  const std::string key = absl::StrCat(w.name, "/", w.pod_group);
  const PodGroupInfo* group = groups.Find(PodGroupInfo::Api::kWorkload, pod.namespace_name, key);
  if (group == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "Workload ", pod.namespace_name, "/", w.name, " (scheduling.k8s.io/v1alpha1) with pod "
        "group ", Quote(w.pod_group), " not found (named by ", d.where, " of pod ", PodName(pod),
        ")"));
  }
  if (!group->gang) return std::optional<GangRef>();  // basic policy
  GangRef ref;
  ref.id = GangId(absl::StrCat(pod.namespace_name, "/", key,
                               w.replica_key.empty() ? "" : absl::StrCat("/", w.replica_key)));
  ref.min_member = group->min_member;
  ref.timeout = kUpstreamGangTimeout;
  ref.source = "scheduling.k8s.io/v1alpha1 Workload";
  return std::optional<GangRef>(std::move(ref));
}

absl::StatusOr<GangRef> FromKoordinator(const PodInfo& pod, const Declaration& d) {
  const StringMap& a = pod.annotations;
  GangRef ref;
  RETURN_IF_ERROR(ParseMinTotal(pod, d, kKoordMinAvailable, kKoordTotalNumber, ref));
  // Koordinator applies its own default when the annotation is absent; keep its semantics so a
  // gang moved from Koordinator waits as long as it did there.
  ref.timeout = kKoordDefaultWaitingTime;
  if (const std::string* w = Find(a, kKoordWaitingTime); w != nullptr) {
    ASSIGN_OR_RETURN(ref.timeout, ParseWaitingTime(pod, kKoordWaitingTime, *w));
  }
  ref.source = std::string(kKoordinatorSource);
  return ref;
}

absl::StatusOr<GangRef> FromKueue(const PodInfo& pod, const Declaration& d) {
  GangRef ref;
  // Kueue admits a plain-pod group only when all of its pods exist, and runs them all: the
  // quorum is the whole group.
  ASSIGN_OR_RETURN(ref.total_member, ParseRequiredCount(pod, d, "annotation", pod.annotations,
                                                        kKueuePodGroupTotalCount));
  ref.min_member = ref.total_member;
  ref.source = std::string(kKueueSource);
  return ref;
}

absl::StatusOr<GangRef> FromGpusched(const PodInfo& pod, const Declaration& d) {
  const StringMap& a = pod.annotations;
  GangRef ref;
  RETURN_IF_ERROR(ParseMinTotal(pod, d, kGangMinMember, kGangTotalMember, ref));
  ASSIGN_OR_RETURN(std::optional<int32_t> timeout,
                   ParseOptionalCount(pod, "annotation", a, kGangTimeoutSeconds));
  if (timeout.has_value()) ref.timeout = absl::Seconds(*timeout);
  ref.source = std::string(kGpuschedSource);
  return ref;
}

std::vector<Declaration> FindDeclarations(const PodInfo& pod) {
  std::vector<Declaration> found;
  const std::string* label = Find(pod.labels, kPodGroupLabel);
  const std::string* legacy = Find(pod.labels, kLegacyPodGroupLabel);
  // Pods migrated from old scheduler-plugins releases may carry both labels; that is one
  // declaration when they agree.
  if (label != nullptr) {
    found.push_back({Form::kSchedulerPlugins, *label, Where("label", kPodGroupLabel, *label)});
  }
  if (legacy != nullptr && (label == nullptr || *legacy != *label)) {
    found.push_back(
        {Form::kSchedulerPlugins, *legacy, Where("label", kLegacyPodGroupLabel, *legacy)});
  }
  if (!pod.scheduling_group.empty()) {
    found.push_back(
        {Form::kUpstream, pod.scheduling_group,
         absl::StrCat("spec.schedulingGroup.podGroupName=", Quote(pod.scheduling_group))});
  }
  if (pod.workload_ref.has_value()) {
    const PodInfo::WorkloadRef& w = *pod.workload_ref;
    found.push_back({Form::kWorkload, w.name,
                     absl::StrCat("spec.workloadRef={name: ", Quote(w.name), ", podGroup: ",
                                  Quote(w.pod_group),
                                  w.replica_key.empty()
                                      ? ""
                                      : absl::StrCat(", podGroupReplicaKey: ", Quote(w.replica_key)),
                                  "}")});
  }
  if (const std::string* v = Find(pod.annotations, kVolcanoGroupNameAnnotation)) {
    found.push_back({Form::kVolcano, *v, Where("annotation", kVolcanoGroupNameAnnotation, *v)});
  }
  if (const std::string* v = Find(pod.annotations, kKoordGangName)) {
    found.push_back({Form::kKoordinator, *v, Where("annotation", kKoordGangName, *v)});
  }
  if (const std::string* v = Find(pod.labels, kKueuePodGroupName)) {
    found.push_back({Form::kKueue, *v, Where("label", kKueuePodGroupName, *v)});
  }
  if (const std::string* v = Find(pod.annotations, kGangName)) {
    found.push_back({Form::kGpusched, *v, Where("annotation", kGangName, *v)});
  }
  return found;
}

absl::Status ConflictError(const PodInfo& pod, const std::vector<Declaration>& found) {
  bool same_name = true;
  for (const Declaration& d : found) same_name = same_name && d.name == found.front().name;
  std::string list;
  for (size_t i = 0; i < found.size(); ++i) {
    const char* sep = i == 0 ? "" : (i + 1 == found.size() ? " and " : ", ");
    absl::StrAppend(&list, sep, found[i].where);
  }
  const bool two = found.size() == 2;
  const std::string what =
      same_name ? (two ? "its gang twice" : absl::StrCat("its gang ", found.size(), " times"))
                : (two ? "two gangs" : absl::StrCat(found.size(), " gangs"));
  return absl::InvalidArgumentError(
      absl::StrCat("pod ", PodName(pod), " declares ", what, ": ", list,
                   "; keep exactly one declaration (gpusched does not merge them)"));
}

// The non-name keys of a form, which mean nothing without its name key.
struct Companion {
  Form form;
  std::string_view key;
  std::string_view name_key;
  std::string_view name_kind;
};

constexpr Companion kCompanions[] = {
    {Form::kKoordinator, kKoordMinAvailable, kKoordGangName, "annotation"},
    {Form::kKoordinator, kKoordWaitingTime, kKoordGangName, "annotation"},
    {Form::kKoordinator, kKoordTotalNumber, kKoordGangName, "annotation"},
    {Form::kKueue, kKueuePodGroupTotalCount, kKueuePodGroupName, "label"},
    {Form::kGpusched, kGangMinMember, kGangName, "annotation"},
    {Form::kGpusched, kGangTotalMember, kGangName, "annotation"},
    {Form::kGpusched, kGangTimeoutSeconds, kGangName, "annotation"},
};

absl::Status CheckCompanions(const PodInfo& pod, const std::vector<Declaration>& found) {
  for (const Companion& c : kCompanions) {
    bool declared = false;
    for (const Declaration& d : found) declared = declared || d.form == c.form;
    if (declared) continue;
    if (const std::string* v = Find(pod.annotations, c.key)) {
      return absl::InvalidArgumentError(
          absl::StrCat("pod ", PodName(pod), ": ", Where("annotation", c.key, *v), " needs ",
                       std::string(c.name_kind), " ", std::string(c.name_key),
                       " (the gang's name); without it the pod would be scheduled alone"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string_view ApiVersion(PodGroupInfo::Api api) {
  switch (api) {
    case PodGroupInfo::Api::kSchedulerPlugins:
      return "scheduling.x-k8s.io/v1alpha1";
    case PodGroupInfo::Api::kUpstream:
      return "scheduling.k8s.io/v1alpha2";
    case PodGroupInfo::Api::kVolcano:
      return "scheduling.volcano.sh/v1beta1";
    case PodGroupInfo::Api::kUpstreamBeta:
      return "scheduling.k8s.io/v1beta1";
    case PodGroupInfo::Api::kWorkload:
      return "scheduling.k8s.io/v1alpha1";
  }
  return "unknown";
}

void PodGroupSet::Upsert(PodGroupInfo group) {
  Key key{group.api, group.namespace_name, group.name};
  groups_.insert_or_assign(std::move(key), std::move(group));
}

bool PodGroupSet::Remove(PodGroupInfo::Api api, const std::string& ns, const std::string& name) {
  return groups_.erase(Key{api, ns, name}) > 0;
}

const PodGroupInfo* PodGroupSet::Find(PodGroupInfo::Api api, const std::string& ns,
                                      const std::string& name) const {
  auto it = groups_.find(Key{api, ns, name});
  return it == groups_.end() ? nullptr : &it->second;
}

absl::StatusOr<std::optional<GangRef>> ResolveGang(const PodInfo& pod,
                                                   const PodGroupLister& groups) {
  const std::vector<Declaration> found = FindDeclarations(pod);
  if (found.size() > 1) return ConflictError(pod, found);
  RETURN_IF_ERROR(CheckCompanions(pod, found));
  if (found.empty()) return std::optional<GangRef>();

  const Declaration& d = found.front();
  RETURN_IF_ERROR(CheckName(pod, d));
  GangRef ref;
  switch (d.form) {
    case Form::kSchedulerPlugins:
      return FromPodGroup(pod, d, PodGroupInfo::Api::kSchedulerPlugins, groups);
    case Form::kUpstream:
      // The same object may be served as v1beta1 (1.37) or v1alpha2 (1.36): whichever the
      // lister holds, the beta one first.
      if (groups.Find(PodGroupInfo::Api::kUpstreamBeta, pod.namespace_name, d.name) != nullptr) {
        return FromPodGroup(pod, d, PodGroupInfo::Api::kUpstreamBeta, groups);
      }
      return FromPodGroup(pod, d, PodGroupInfo::Api::kUpstream, groups);
    case Form::kWorkload:
      return FromWorkload(pod, d, groups);
    case Form::kVolcano:
      return FromPodGroup(pod, d, PodGroupInfo::Api::kVolcano, groups);
    case Form::kKoordinator: {
      ASSIGN_OR_RETURN(ref, FromKoordinator(pod, d));
      break;
    }
    case Form::kKueue: {
      ASSIGN_OR_RETURN(ref, FromKueue(pod, d));
      break;
    }
    case Form::kGpusched: {
      ASSIGN_OR_RETURN(ref, FromGpusched(pod, d));
      break;
    }
  }
  ref.id = GangId(absl::StrCat(pod.namespace_name, "/", d.name));
  return std::optional<GangRef>(std::move(ref));
}

}  // namespace gpusched::plugins::gang

#pragma once

// Turns every way users declare a gang on a Kubernetes pod into the one internal model,
// framework::GangRef (scheduler/api/pod_info.h).
//
//   PodGroupSet groups;   // fed by the extender's informers, the simulator or a test
//   groups.Upsert({PodGroupInfo::Api::kSchedulerPlugins, "ml", "train", 4, absl::Seconds(60)});
//   PodInfo pod = ...;    // labels {"scheduling.x-k8s.io/pod-group": "train"}, namespace "ml"
//   ASSIGN_OR_RETURN(std::optional<GangRef> gang, ResolveGang(pod, groups));
//   // gang == GangRef{"ml/train", min 4, total 0, timeout 60 s,
//   //                 "scheduling.x-k8s.io/v1alpha1 PodGroup"}
//
// The forms (the plugin guide has the same table: plugins/gang/README.md):
//
// | form              | on the pod                             | min / total / timeout from    |
// |-------------------|----------------------------------------|-------------------------------|
// | scheduler-plugins | label scheduling.x-k8s.io/pod-group    | PodGroup scheduling.x-k8s.io/ |
// |                   | (or the legacy label                   | v1alpha1: minMember, schedule-|
// |                   | pod-group.scheduling.sigs.k8s.io)      | TimeoutSeconds, else default  |
// | upstream KEP-4671 | spec.schedulingGroup.podGroupName      | PodGroup scheduling.k8s.io/   |
// | (1.36, 1.37)      |                                        | v1alpha2 or v1beta1: schedul- |
// |                   |                                        | ingPolicy.gang.minCount; 5 min|
// | upstream (1.35)   | spec.workloadRef {name, podGroup,      | Workload scheduling.k8s.io/   |
// |                   | podGroupReplicaKey}                    | v1alpha1: podGroups[].policy. |
// |                   |                                        | gang.minCount; one gang per   |
// |                   |                                        | replica key; 5 min            |
// | Volcano           | annotation scheduling.k8s.io/group-name| PodGroup scheduling.volcano.sh|
// |                   |                                        | /v1beta1: minMember; default  |
// | Koordinator       | annotations gang.scheduling.koordinator| the annotations; waiting-time |
// |                   | .sh/name, min-available [, waiting-    | defaults to 600 s, as in      |
// |                   | time, total-number]                    | Koordinator                   |
// | Kueue plain pods  | label kueue.x-k8s.io/pod-group-name,   | min = total = the count;      |
// |                   | annotation ...pod-group-total-count    | default timeout               |
// | gpusched          | annotations gpusched.io/gang-name,     | the annotations; default      |
// |                   | gang-min-member [, gang-total-member,  | timeout when absent           |
// |                   | gang-timeout-seconds]                  |                               |
//
// ("default" = GangRef::timeout is nullopt: the gang plugin's own default applies.)
//
// Rules:
//   - GangRef::id is "<pod namespace>/<group name>"; every form names a group in the pod's own
//     namespace, as all six APIs do.
//   - No form on the pod: nullopt (not a gang member).
//   - A form is present when its name key is (the first key in each row above). A pod with two or
//     more forms is rejected (InvalidArgument) even when they name the same group: merging forms
//     would need a rule for which minimum and timeout win, and a pod that other schedulers in the
//     cluster also read could then mean different gangs to each. The message names every form
//     and its value, e.g. `pod ml/w-0 declares two gangs: label scheduling.x-k8s.io/pod-group="a"
//     and annotation gang.scheduling.koordinator.sh/name="b"`.
//   - A form's other keys without its name key (e.g. gpusched.io/gang-min-member alone) are an
//     InvalidArgument error rather than being ignored: they are almost always a typo in the name
//     key, and ignoring them would schedule the pod alone.
//   - Malformed values are InvalidArgument naming the key and quoting the value: an empty name or
//     one containing '/', counts that are not whole numbers in 1..2^31-1, min > total, a waiting
//     time that is not a positive Go duration ("600s", "10m", "1h30m").
//   - A form that refers to a PodGroup object the lister does not know (yet) is NotFound, e.g.
//     `PodGroup ml/x (scheduling.x-k8s.io/v1alpha1) not found`; the scheduler keeps the pod
//     pending until the PodGroup appears, as the upstream scheduler does.
//   - An upstream PodGroup with the basic policy schedules its pods one by one: nullopt.
//
// Volcano keeps the quorum on its own PodGroup CRD, which the Volcano form therefore looks up
// (PodGroupInfo::Api::kVolcano). Volcano's PodGroup has no timeout field: the default applies.
//
// Pure functions of their arguments; safe to call from any thread while the lister is not being
// modified.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "scheduler/api/pod_info.h"

namespace gpusched::plugins::gang {

// scheduler-plugins coscheduling (kubernetes-sigs/scheduler-plugins).
inline constexpr std::string_view kPodGroupLabel = "scheduling.x-k8s.io/pod-group";
inline constexpr std::string_view kLegacyPodGroupLabel = "pod-group.scheduling.sigs.k8s.io";
// Volcano (volcano-sh/volcano): the annotation its job controller writes on every pod.
inline constexpr std::string_view kVolcanoGroupNameAnnotation = "scheduling.k8s.io/group-name";
// Koordinator (koordinator-sh/koordinator) gang annotations.
inline constexpr std::string_view kKoordGangName = "gang.scheduling.koordinator.sh/name";
inline constexpr std::string_view kKoordMinAvailable =
    "gang.scheduling.koordinator.sh/min-available";
inline constexpr std::string_view kKoordWaitingTime = "gang.scheduling.koordinator.sh/waiting-time";
inline constexpr std::string_view kKoordTotalNumber = "gang.scheduling.koordinator.sh/total-number";
// Kueue plain-pod groups (kubernetes-sigs/kueue).
inline constexpr std::string_view kKueuePodGroupName = "kueue.x-k8s.io/pod-group-name";
inline constexpr std::string_view kKueuePodGroupTotalCount = "kueue.x-k8s.io/pod-group-total-count";
// gpusched's own annotations.
inline constexpr std::string_view kGangName = "gpusched.io/gang-name";
inline constexpr std::string_view kGangMinMember = "gpusched.io/gang-min-member";
inline constexpr std::string_view kGangTotalMember = "gpusched.io/gang-total-member";
inline constexpr std::string_view kGangTimeoutSeconds = "gpusched.io/gang-timeout-seconds";

// Koordinator's default gang waiting time (its coscheduling plugin's DefaultTimeout).
inline constexpr absl::Duration kKoordDefaultWaitingTime = absl::Seconds(600);
// The upstream gang scheduler's fixed timeout (KEP-4671; not configurable there).
inline constexpr absl::Duration kUpstreamGangTimeout = absl::Minutes(5);

// A PodGroup object, reduced to what gang scheduling needs.
struct PodGroupInfo {
  enum class Api {
    kSchedulerPlugins,  // scheduling.x-k8s.io/v1alpha1 PodGroup
    kUpstream,          // scheduling.k8s.io/v1alpha2 PodGroup (KEP-4671, Kubernetes 1.36)
    kVolcano,           // scheduling.volcano.sh/v1beta1 PodGroup
    kUpstreamBeta,      // scheduling.k8s.io/v1beta1 PodGroup (Kubernetes 1.37; same spec)
    // One pod group of a scheduling.k8s.io/v1alpha1 Workload (Kubernetes 1.35), named
    // "<workload>/<pod group>"; pods point at it with spec.workloadRef.
    kWorkload,
  };
  Api api = Api::kSchedulerPlugins;
  std::string namespace_name = "default";
  std::string name;
  // The quorum (minMember / gang.minCount); 0 when `gang` is false.
  int32_t min_member = 1;
  // scheduleTimeoutSeconds, or upstream's fixed kUpstreamGangTimeout; nullopt when absent (and
  // for Volcano, which has no such field).
  std::optional<absl::Duration> timeout;
  // spec.minResources (cpu, memory and nvidia.com/gpu as whole GPUs); zero when absent.
  framework::PodResources min_resources;
  // False only for an upstream PodGroup with the basic policy: its pods are not a gang.
  bool gang = true;
};

// "scheduling.x-k8s.io/v1alpha1" etc.: the apiVersion of each Api, for messages and decoders.
std::string_view ApiVersion(PodGroupInfo::Api api);

// Where ResolveGang finds PodGroup objects.
class PodGroupLister {
 public:
  virtual ~PodGroupLister() = default;
  // The PodGroup `ns`/`name` of API `api`, or nullptr if none is known. The pointer stays valid
  // until the lister is next modified.
  virtual const PodGroupInfo* Find(PodGroupInfo::Api api, const std::string& ns,
                                   const std::string& name) const = 0;
};

// A PodGroupLister over a map, for tests, the simulator and the extender's informer cache.
// Thread-compatible.
class PodGroupSet final : public PodGroupLister {
 public:
  // Adds `group`, or replaces the one with the same api, namespace and name.
  void Upsert(PodGroupInfo group);
  // Removes the PodGroup; false if there was none.
  bool Remove(PodGroupInfo::Api api, const std::string& ns, const std::string& name);
  const PodGroupInfo* Find(PodGroupInfo::Api api, const std::string& ns,
                           const std::string& name) const override;
  size_t size() const { return groups_.size(); }

 private:
  using Key = std::tuple<PodGroupInfo::Api, std::string, std::string>;
  std::map<Key, PodGroupInfo> groups_;
};

// The gang `pod` belongs to, by the forms and rules above: nullopt when it declares none;
// InvalidArgument for conflicting or malformed declarations; NotFound when the PodGroup it names
// is not in `groups`.
absl::StatusOr<std::optional<framework::GangRef>> ResolveGang(const framework::PodInfo& pod,
                                                              const PodGroupLister& groups);

}  // namespace gpusched::plugins::gang

#pragma once

// What the extender knows besides the scheduling model: the PodGroups (and Workloads) that
// declare gangs, and the pods it may be asked to bind. Fed by the informer (extender/k8s/informer.h)
// and by Filter requests (kube-scheduler's copy of a pod may arrive before the informer's);
// read by the verbs.
//
// Thread-safety: every method may be called from any thread; one reader/writer lock guards the
// groups and pods (readers: verbs; writers: informer events).

#include <cstddef>
#include <deque>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "common/mutex.h"
#include "plugins/gang/declaration.h"
#include "scheduler/api/pod_info.h"

namespace gpusched::extender {

class ClusterState {
 public:
  // ---- Gang declarations.
  void UpsertGroup(plugins::gang::PodGroupInfo group) ABSL_LOCKS_EXCLUDED(mu_);
  void RemoveGroup(plugins::gang::PodGroupInfo::Api api, const std::string& ns,
                   const std::string& name) ABSL_LOCKS_EXCLUDED(mu_);
  size_t group_count() const ABSL_LOCKS_EXCLUDED(mu_);
  // plugins::gang::ResolveGang against the groups known now.
  absl::StatusOr<std::optional<framework::GangRef>> ResolveGang(const framework::PodInfo& pod) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // ---- Pods by UID: every pod the informer lists (until deleted), and the pods of recent
  // Filter requests (the newest `recent_limit`), so that Bind finds the pod it is asked for.
  void RememberPod(const framework::PodInfo& pod) ABSL_LOCKS_EXCLUDED(mu_);
  void RememberRecent(const framework::PodInfo& pod) ABSL_LOCKS_EXCLUDED(mu_);
  void ForgetPod(const PodUid& uid) ABSL_LOCKS_EXCLUDED(mu_);
  std::optional<framework::PodInfo> FindPod(const PodUid& uid) const ABSL_LOCKS_EXCLUDED(mu_);
  // By namespace and name (a scan: for the rare /explain question, not for the verbs).
  std::optional<framework::PodInfo> FindPodByName(const std::string& ns, const std::string& name) const
      ABSL_LOCKS_EXCLUDED(mu_);
  static constexpr size_t kRecentLimit = 4096;

 private:
  mutable Mutex mu_;
  plugins::gang::PodGroupSet groups_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<PodUid, framework::PodInfo> pods_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<PodUid, framework::PodInfo> recent_ ABSL_GUARDED_BY(mu_);
  std::deque<PodUid> recent_order_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gpusched::extender

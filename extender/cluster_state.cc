#include "extender/cluster_state.h"

#include <utility>

namespace gpusched::extender {

void ClusterState::UpsertGroup(plugins::gang::PodGroupInfo group) {
  MutexLock l(&mu_);
  groups_.Upsert(std::move(group));
}

void ClusterState::RemoveGroup(plugins::gang::PodGroupInfo::Api api, const std::string& ns,
                               const std::string& name) {
  MutexLock l(&mu_);
  groups_.Remove(api, ns, name);
}

size_t ClusterState::group_count() const {
  ReaderMutexLock l(&mu_);
  return groups_.size();
}

absl::StatusOr<std::optional<framework::GangRef>> ClusterState::ResolveGang(
    const framework::PodInfo& pod) const {
  ReaderMutexLock l(&mu_);
  return plugins::gang::ResolveGang(pod, groups_);
}

void ClusterState::RememberPod(const framework::PodInfo& pod) {
  MutexLock l(&mu_);
  pods_.insert_or_assign(pod.uid, pod);
}

void ClusterState::RememberRecent(const framework::PodInfo& pod) {
  MutexLock l(&mu_);
  auto [it, inserted] = recent_.insert_or_assign(pod.uid, pod);
  if (!inserted) return;
  recent_order_.push_back(pod.uid);
  while (recent_order_.size() > kRecentLimit) {
    recent_.erase(recent_order_.front());
    recent_order_.pop_front();
  }
}

void ClusterState::ForgetPod(const PodUid& uid) {
  MutexLock l(&mu_);
  pods_.erase(uid);
}

std::optional<framework::PodInfo> ClusterState::FindPod(const PodUid& uid) const {
  ReaderMutexLock l(&mu_);
  if (auto it = recent_.find(uid); it != recent_.end()) return it->second;
  if (auto it = pods_.find(uid); it != pods_.end()) return it->second;
  return std::nullopt;
}

std::optional<framework::PodInfo> ClusterState::FindPodByName(const std::string& ns,
                                                              const std::string& name) const {
  ReaderMutexLock l(&mu_);
  for (const auto* map : {&pods_, &recent_}) {
    for (const auto& [uid, pod] : *map) {
      if (pod.namespace_name == ns && pod.name == name) return pod;
    }
  }
  return std::nullopt;
}

}  // namespace gpusched::extender

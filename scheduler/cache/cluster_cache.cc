#include "scheduler/cache/cluster_cache.h"

#include <cstdint>
#include <cstring>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace gpusched::cache {

const NodeInfo* ClusterCache::FindNode(const NodeId& name) const {
  auto it = node_index_.find(name);
  return it == node_index_.end() ? nullptr : nodes_[it->second];
}

namespace {
// Name equality without a call into memcmp: node names are short, and FindNodes compares one
// per candidate. Whole 8-byte words, then one more ending at the last byte (overlapping the one
// before), so a 15-character name takes two loads a side rather than one and seven bytes.
inline bool SameName(const std::string& a, const std::string& b) {
  const size_t n = a.size();
  if (n != b.size()) return false;
  const char* x = a.data();
  const char* y = b.data();
  auto word = [](const char* p) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    return w;
  };
  if (n >= 8) {
    for (size_t i = 0; i + 8 <= n; i += 8) {
      if (word(x + i) != word(y + i)) return false;
    }
    return n % 8 == 0 || word(x + n - 8) == word(y + n - 8);
  }
  for (size_t i = 0; i < n; ++i) {
    if (x[i] != y[i]) return false;
  }
  return true;
}
}  // namespace

void ClusterCache::FindNodes(absl::Span<const NodeId> names,
                             absl::Span<const NodeInfo*> out) const {
  constexpr size_t kAhead = 6;
  size_t next = nodes_.size();  // the guess: the node after the last one found
  for (size_t i = 0; i < names.size(); ++i) {
    // The records a few places ahead: their second line holds the name compared here, their
    // first what Filter reads next (node_info.h).
    if (next + kAhead < nodes_.size()) {
      const char* ahead = reinterpret_cast<const char*>(nodes_[next + kAhead]);
      __builtin_prefetch(ahead);
      __builtin_prefetch(ahead + 64);
    }
    if (next < nodes_.size() && SameName(nodes_[next]->name().str(), names[i].str())) {
      out[i] = nodes_[next++];
      continue;
    }
    auto it = node_index_.find(names[i]);
    if (it == node_index_.end()) {
      out[i] = nullptr;
      continue;
    }
    out[i] = nodes_[it->second];
    next = it->second + 1;
  }
}

NodeInfo* ClusterCache::MutableNode(const NodeId& name) {
  auto it = node_index_.find(name);
  return it == node_index_.end() ? nullptr : nodes_[it->second];
}

absl::Status ClusterCache::AddNode(NodeSpec spec) {
  if (node_index_.contains(spec.name)) {
    return absl::AlreadyExistsError(absl::StrCat("node ", spec.name.str(), " already exists"));
  }
  absl::StatusOr<NodeInfo> info = NodeInfo::Create(std::move(spec));
  if (!info.ok()) return info.status();
  node_index_.emplace(info->name(), nodes_.size());
  nodes_.push_back(arena_.Add(*std::move(info)));
  node_view_.push_back(nodes_.back());
  ++generation_;
  return absl::OkStatus();
}

absl::Status ClusterCache::UpdateNode(NodeSpec spec) {
  NodeInfo* node = MutableNode(spec.name);
  if (node == nullptr) {
    return absl::NotFoundError(absl::StrCat("node ", spec.name.str(), " does not exist"));
  }
  absl::StatusOr<NodeInfo> fresh = NodeInfo::Create(std::move(spec));
  if (!fresh.ok()) return fresh.status();
  auto on_node = node_pods_.find(fresh->name());
  if (on_node != node_pods_.end()) {
    // Sorted, so the same pods always re-enter in the same order (identical device state).
    std::vector<PodUid> uids(on_node->second.begin(), on_node->second.end());
    std::sort(uids.begin(), uids.end());
    for (const PodUid& uid : uids) {
    const PodRecord& rec = pods_.at(uid);
    if (absl::Status s = fresh->AddPod(rec.pod.requests, rec.gpus); !s.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "update of node ", rec.node.str(), " rejected: pod ", rec.pod.FullName(),
          " would no longer fit: ", s.message()));
    }
    }
  }
  *node = *std::move(fresh);
  ++generation_;
  return absl::OkStatus();
}

absl::Status ClusterCache::RemoveNode(const NodeId& name) {
  auto it = node_index_.find(name);
  if (it == node_index_.end()) {
    return absl::NotFoundError(absl::StrCat("node ", name.str(), " does not exist"));
  }
  const size_t idx = it->second;
  node_index_.erase(it);
  if (auto on_node = node_pods_.find(name); on_node != node_pods_.end()) {
    const absl::flat_hash_set<PodUid> uids = std::move(on_node->second);
    node_pods_.erase(on_node);
    for (const PodUid& uid : uids) {
      auto p = pods_.find(uid);
      Unindex(p->second);
      pods_.erase(p);
    }
  }
  arena_.Remove(nodes_[idx]);
  if (idx + 1 != nodes_.size()) {
    nodes_[idx] = nodes_.back();
    node_view_[idx] = node_view_.back();
    node_index_[nodes_[idx]->name()] = idx;
  }
  nodes_.pop_back();
  node_view_.pop_back();
  ++generation_;
  return absl::OkStatus();
}

absl::Status ClusterCache::Place(const PodInfo& pod, const NodeId& node,
                                 std::vector<GpuShare> gpus, PodState state) {
  if (pod.uid.empty()) return absl::InvalidArgumentError("pod has no uid");
  if (pods_.contains(pod.uid)) {
    return absl::AlreadyExistsError(
        absl::StrCat("pod ", pod.FullName(), " (uid ", pod.uid.str(), ") is already placed"));
  }
  NodeInfo* info = MutableNode(node);
  if (info == nullptr) {
    return absl::NotFoundError(absl::StrCat("node ", node.str(), " does not exist"));
  }
  if (absl::Status s = info->AddPod(pod.requests, gpus); !s.ok()) return s;
  pods_.emplace(pod.uid, PodRecord{pod, node, std::move(gpus), state});
  if (pod.gang) gang_members_[pod.gang->id].insert(pod.uid);
  node_pods_[node].insert(pod.uid);
  ++generation_;
  return absl::OkStatus();
}

absl::Status ClusterCache::AddBoundPod(const PodInfo& pod, const NodeId& node,
                                       std::vector<GpuShare> gpus) {
  return Place(pod, node, std::move(gpus), PodState::kBound);
}

absl::Status ClusterCache::Assume(const PodInfo& pod, const NodeId& node,
                                  std::vector<GpuShare> gpus) {
  return Place(pod, node, std::move(gpus), PodState::kAssumed);
}

absl::Status ClusterCache::Forget(const PodUid& uid) {
  auto it = pods_.find(uid);
  if (it == pods_.end() || it->second.state != PodState::kAssumed) {
    return absl::FailedPreconditionError(
        absl::StrCat("pod uid ", uid.str(), " is not assumed; nothing to forget"));
  }
  return RemovePod(uid);
}

absl::Status ClusterCache::ConfirmBound(const PodUid& uid) {
  auto it = pods_.find(uid);
  if (it == pods_.end() || it->second.state != PodState::kAssumed) {
    return absl::FailedPreconditionError(
        absl::StrCat("pod uid ", uid.str(), " is not assumed; cannot confirm"));
  }
  it->second.state = PodState::kBound;
  ++generation_;
  return absl::OkStatus();
}

absl::Status ClusterCache::RemovePod(const PodUid& uid) {
  auto it = pods_.find(uid);
  if (it == pods_.end()) {
    return absl::NotFoundError(absl::StrCat("pod uid ", uid.str(), " is not in the cache"));
  }
  NodeInfo* info = MutableNode(it->second.node);
  if (info != nullptr) {
    if (absl::Status s = info->RemovePod(it->second.pod.requests, it->second.gpus); !s.ok()) {
      return absl::InternalError(absl::StrCat("cache inconsistent: ", s.message()));
    }
  }
  Unindex(it->second);
  if (auto on_node = node_pods_.find(it->second.node); on_node != node_pods_.end()) {
    on_node->second.erase(uid);
    if (on_node->second.empty()) node_pods_.erase(on_node);
  }
  pods_.erase(it);
  ++generation_;
  return absl::OkStatus();
}

std::unique_ptr<ClusterCache> ClusterCache::Clone() const {
  auto out = std::make_unique<ClusterCache>();
  out->nodes_.reserve(nodes_.size());
  out->node_view_.reserve(nodes_.size());
  for (const NodeInfo* n : nodes_) {  // in order, so the copy's records are contiguous
    out->nodes_.push_back(out->arena_.Add(*n));
    out->node_view_.push_back(out->nodes_.back());
  }
  out->node_index_ = node_index_;
  out->pods_ = pods_;
  out->gang_members_ = gang_members_;
  out->node_pods_ = node_pods_;
  out->generation_ = generation_;
  return out;
}

void ClusterCache::ShareGenerations(const ClusterCache& from, absl::Span<const NodeId> nodes) {
  for (const NodeId& name : nodes) {
    NodeInfo* mine = MutableNode(name);
    const NodeInfo* theirs = from.FindNode(name);
    if (mine != nullptr && theirs != nullptr) mine->ShareGeneration(*theirs);
  }
}

void ClusterCache::Unindex(const PodRecord& record) {
  if (!record.pod.gang) return;
  auto it = gang_members_.find(record.pod.gang->id);
  if (it == gang_members_.end()) return;
  it->second.erase(record.pod.uid);
  if (it->second.empty()) gang_members_.erase(it);
}

const PodRecord* ClusterCache::FindPod(const PodUid& uid) const {
  auto it = pods_.find(uid);
  return it == pods_.end() ? nullptr : &it->second;
}

void ClusterCache::ForEachPod(absl::FunctionRef<void(const PodRecord&)> fn) const {
  for (const auto& [uid, record] : pods_) fn(record);
}

void ClusterCache::ForEachGangMember(const GangId& gang,
                                     absl::FunctionRef<void(const PodRecord&)> fn) const {
  auto it = gang_members_.find(gang);
  if (it == gang_members_.end()) return;
  for (const PodUid& uid : it->second) fn(pods_.at(uid));
}

void ClusterCache::ForEachPodOnNode(const NodeId& node,
                                    absl::FunctionRef<void(const PodRecord&)> fn) const {
  auto it = node_pods_.find(node);
  if (it == node_pods_.end()) return;
  for (const PodUid& uid : it->second) fn(pods_.at(uid));
}

}  // namespace gpusched::cache

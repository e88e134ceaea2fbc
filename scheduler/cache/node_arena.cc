#include "scheduler/cache/node_arena.h"

#include <new>
#include <utility>

#include "absl/container/flat_hash_set.h"

namespace gpusched::cache {

using framework::NodeInfo;

NodeInfo* NodeArena::Add(NodeInfo info) {
  if (!free_.empty()) {
    NodeInfo* slot = free_.back();
    free_.pop_back();
    return new (slot) NodeInfo(std::move(info));
  }
  if (used_in_last_ == kPerBlock) {
    blocks_.push_back(std::make_unique<Block>());
    used_in_last_ = 0;
  }
  return new (blocks_.back()->slot(used_in_last_++)) NodeInfo(std::move(info));
}

void NodeArena::Remove(NodeInfo* node) {
  node->~NodeInfo();
  free_.push_back(node);
}

NodeArena::~NodeArena() {
  const absl::flat_hash_set<const NodeInfo*> freed(free_.begin(), free_.end());
  for (size_t b = 0; b < blocks_.size(); ++b) {
    const size_t used = b + 1 == blocks_.size() ? used_in_last_ : kPerBlock;
    for (size_t i = 0; i < used; ++i) {
      NodeInfo* n = blocks_[b]->slot(i);
      if (!freed.contains(n)) n->~NodeInfo();
    }
  }
}

}  // namespace gpusched::cache

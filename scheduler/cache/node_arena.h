#pragma once

// Where a ClusterCache keeps its NodeInfo records: blocks of kPerBlock contiguous,
// cache-line-aligned slots, each record at a stable address until it is removed.
//
//   NodeArena arena;
//   NodeInfo* n = arena.Add(*std::move(info));   // constructed in the next free slot
//   arena.Remove(n);                             // destroyed; the slot is reused later
//
// Why: Filter and Score read every candidate node once per request, thousands of them, and that
// pass is bound by memory, not by the plugins' arithmetic. One heap object per node lands
// between pod records, hash-table growth and the store's replay log, so the pass chases
// pointers all over the heap; in an arena, nodes added (or cloned) in order sit next to each
// other, and the framework's prefetching reads ahead in order (node_info.h keeps the fields the
// hot plugins read in each record's first cache lines).
//
// Thread-compatible, like the ClusterCache that owns it.

#include <cstddef>
#include <memory>
#include <vector>

#include "scheduler/api/node_info.h"

namespace gpusched::cache {

class NodeArena {
 public:
  NodeArena() = default;
  ~NodeArena();
  NodeArena(const NodeArena&) = delete;
  NodeArena& operator=(const NodeArena&) = delete;

  framework::NodeInfo* Add(framework::NodeInfo info);
  // `node` must have come from Add on this arena and not been removed since.
  void Remove(framework::NodeInfo* node);

 private:
  static constexpr size_t kPerBlock = 64;
  struct Block {
    alignas(framework::NodeInfo) std::byte bytes[kPerBlock * sizeof(framework::NodeInfo)];
    framework::NodeInfo* slot(size_t i) {
      return reinterpret_cast<framework::NodeInfo*>(bytes + i * sizeof(framework::NodeInfo));
    }
  };
  std::vector<std::unique_ptr<Block>> blocks_;
  size_t used_in_last_ = kPerBlock;         // slots of the last block ever constructed
  std::vector<framework::NodeInfo*> free_;  // destroyed slots, reused first (last in, first out)
};

}  // namespace gpusched::cache

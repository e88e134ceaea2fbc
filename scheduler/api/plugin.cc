#include "scheduler/api/plugin.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace gpusched::framework {

void DefaultNormalizeScore(int64_t max_priority, bool reverse, NodeScoreList& scores) {
  int64_t max_raw = 0;
  for (const NodeScore& s : scores) max_raw = std::max(max_raw, s.score);
  if (max_raw == 0) {
    if (reverse) {
      for (NodeScore& s : scores) s.score = max_priority;
    }
    return;
  }
  for (NodeScore& s : scores) {
    int64_t v = max_priority * s.score / max_raw;
    s.score = reverse ? max_priority - v : v;
  }
}

Status ScorePlugin::ScoreRange(const CycleState& state, const PodInfo& pod,
                               const std::vector<const NodeInfo*>& nodes, size_t begin, size_t end,
                               std::vector<NodeScore>& scores) const {
  for (size_t i = begin; i < end; ++i) {
    Status s = Score(state, pod, *nodes[i], scores[i].score);
    if (!s.ok()) {
      return Status::Error(absl::StrCat("node ", nodes[i]->name().str(), ": ", s.Message()));
    }
  }
  return Status::Success();
}

}  // namespace gpusched::framework

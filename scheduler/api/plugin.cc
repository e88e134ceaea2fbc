#include "scheduler/api/plugin.h"

#include <algorithm>

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

}  // namespace gpusched::framework

#pragma once

// "Why is my GPU pod pending": per node, why the pod does not fit there now; and the nearest
// changes that would make it fit, each one checked by running the profile's Filter on the
// changed pod or the changed model, never guessed:
//   - fewer GPUs (the largest count that fits), a smaller share (the largest milli-GPU or
//     memory that fits), another GPU model, without `gpusched.io/topology: required`, without
//     its nodeSelector;
//   - the same pod, after some pods leave: on a node, the fewest of its pods (smallest first)
//     whose departure lets it fit, a gang's held plan named as such;
//   - for a gang member: how many members of its shape fit now, and on an empty cluster; for a
//     gang kept within one rack (gpusched.io/gang-topology), how many fit in the best one, and
//     whether letting it span racks would place it now.
//
//   runtime::Explanation e = runtime::Explain(framework, *store.Current(), pod);
//   for (const auto& c : e.changes) std::cout << c.what << " -> " << c.fits_on[0] << "\n";
//
// Cost: a Filter pass over the cluster per tried change (a few dozen at most), and per node
// with waiting candidates a clone of the model: an admin question, not a scheduling path.
// Thread-safety: reads `model` only (clones it to try departures); safe to run concurrently with
// the verbs on the same Framework (Filter is re-entrant).

#include <string>
#include <vector>

#include "scheduler/api/pod_info.h"
#include "scheduler/cache/cluster_cache.h"
#include "scheduler/runtime/framework.h"

namespace gpusched::runtime {

struct Explanation {
  struct NodeVerdict {
    NodeId node;
    bool fits = false;
    bool unresolvable = false;  // "never here" (FailedAndUnresolvableNodes), not "not now"
    std::string reason;         // "" when it fits
  };
  std::vector<NodeVerdict> nodes;  // every node of the model, in the model's order
  struct Change {
    std::string kind;             // fewer-gpus | smaller-share | less-memory | other-model |
                                  // no-topology | no-node-selector | wait | any-rack
    std::string what;             // for a person: "ask for 4 GPUs instead of 8"
    std::vector<NodeId> fits_on;  // where it would fit then (first ones, at most 5)
  };
  std::vector<Change> changes;  // empty when it fits now, or when nothing tried helps
  // For a gang member: "gang ns/g needs 4 members like this one at once: 1 fit now, at most 2
  // on an empty cluster"; "" otherwise.
  std::string gang;
  bool fits_now() const;
};

Explanation Explain(Framework& fw, const cache::ClusterCache& model, const PodInfo& pod);

}  // namespace gpusched::runtime

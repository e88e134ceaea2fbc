#pragma once

// The topology above the node: which NVLink domain, rack, block and zone each node sits in,
// read from node labels, and the choice of nodes for a multi-node job (a gang) that keeps its
// members as close together as the free capacity allows.
//
//   ClusterTopology topo = ClusterTopology::FromLabels({
//       {"gb-0", {{"nvidia.com/gpu.clique", "7f3c.1"}, {"topology.gpusched.io/rack", "r1"}}},
//       {"gb-1", {{"nvidia.com/gpu.clique", "7f3c.1"}, {"topology.gpusched.io/rack", "r1"}}},
//       {"h-0",  {{"topology.gpusched.io/rack", "r2"}}},
//   });
//   topo.Distance("gb-0", "gb-1");   // 1: same NVLink domain
//   topo.Distance("gb-0", "h-0");    // 5: nothing in common that is known
//
//   // A job of 16 members, 4 GPUs each; the caller turned free GPUs into member slots per node.
//   ASSIGN_OR_RETURN(MultiNodeChoice c,
//                    ChooseNodes(topo, {{"gb-0", 1}, {"gb-1", 1}, /*...*/}, /*members=*/16));
//   c.placement;       // {{"gb-0", 1}, {"gb-1", 1}, ...}: node -> members, in fill order
//   c.level;           // "nvlink-domain"
//   c.groups_spanned;  // 1
//
// Labels (all configurable through LabelKeys; an empty key switches a level off):
//   - NVLink domain: NVIDIA GPU feature discovery publishes `nvidia.com/gpu.clique` on
//     multi-node NVLink systems (GB200/GB300 NVL72, NVL36x2); the value is
//     "<clusterUUID>.<cliqueId>" and is unique cluster-wide, so it is used as is. A domain may
//     span racks (NVL36x2), so it is not nested under the rack.
//   - Rack: no standard key. Common ones: `topology.kubernetes.io/rack` (on-prem conventions),
//     NVIDIA topograph's `network.topology.nvidia.com/accelerator` / `.../leaf`, GKE's
//     `cloud.google.com/gce-topology-subblock`, AWS's `topology.k8s.aws/network-node-layer-3`.
//   - Block: GKE's `cloud.google.com/gce-topology-block`, topograph's
//     `network.topology.nvidia.com/spine`, AWS's `topology.k8s.aws/network-node-layer-2`.
//   - Zone: `topology.kubernetes.io/zone` (well-known).
// Rack, block and zone are nested: a rack's group is named by the known values above it too
// ("zone-a/b1/r3"; unknown levels are left out: "r3" when a node has only a rack label), so rack
// "r3" in zone a and rack "r3" in zone b are different racks (as in Kueue and KAI topology
// levels). A node whose label for a level is missing is "unknown" there and shares that level
// with nobody.
//
// Immutable after FromLabels; safe to share between threads. ChooseNodes is a pure function.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace gpusched::topology {

struct LabelKeys {
  std::string nvlink_domain = "nvidia.com/gpu.clique";
  std::string rack = "topology.gpusched.io/rack";
  std::string block = "topology.gpusched.io/block";
  std::string zone = "topology.kubernetes.io/zone";
};

// Where one node is; "" = unknown (the label is missing or empty). Raw label values.
struct NodePlace {
  std::string node;
  std::string nvlink_domain;
  std::string rack;
  std::string block;
  std::string zone;
};

// Levels from the closest to the farthest; the value is the Distance between two nodes whose
// closest common group is at that level.
enum class Level : uint8_t {
  kNode = 0,
  kNvlinkDomain = 1,
  kRack = 2,
  kBlock = 3,
  kZone = 4,
  kCluster = 5,
};

// "node", "nvlink-domain", "rack", "block", "zone", "cluster".
std::string_view LevelName(Level level);

class ClusterTopology {
 public:
  using NodeLabels = std::pair<std::string, std::map<std::string, std::string>>;

  // Never fails: a missing or empty label makes that level unknown for the node. Entries with
  // an empty node name are skipped; a repeated node name replaces the earlier entry.
  static ClusterTopology FromLabels(const std::vector<NodeLabels>& nodes_with_labels,
                                    const LabelKeys& keys = {});

  const LabelKeys& keys() const { return keys_; }
  // Node names, ascending.
  std::vector<std::string> Nodes() const;
  // nullptr for a node not in the topology.
  const NodePlace* Find(std::string_view node) const;

  // The node's group at `level`: the domain's clique value, or the nested rack/block/zone name
  // described above ("zone-a/b1/r3"); the node name for kNode; "" for kCluster, for an unknown
  // level and for an unknown node.
  std::string GroupOf(std::string_view node, Level level) const;
  // Group names at `level` that some node has, ascending (kNvlinkDomain..kZone; else empty).
  std::vector<std::string> Groups(Level level) const;
  // Nodes in the group named as GroupOf names it, ascending; empty for an unknown group.
  std::vector<std::string> NodesIn(Level level, std::string_view group) const;
  std::vector<std::string> NodesInNvlinkDomain(std::string_view clique) const {
    return NodesIn(Level::kNvlinkDomain, clique);
  }
  std::vector<std::string> NodesInRack(std::string_view rack_group) const {
    return NodesIn(Level::kRack, rack_group);
  }

  // 0 same node, 1 same NVLink domain, 2 same rack, 3 same block, 4 same zone, 5 otherwise
  // (also when either node is not in the topology, unless a == b). Symmetric.
  int Distance(std::string_view a, std::string_view b) const;

 private:
  struct Entry {
    NodePlace place;
    std::string groups[4];  // nested group names: nvlink domain, rack, block, zone
  };
  ClusterTopology() = default;
  const Entry* FindEntry(std::string_view node) const;

  LabelKeys keys_;
  std::map<std::string, Entry, std::less<>> nodes_;
  // Per level (kNvlinkDomain..kZone): group name -> nodes, ascending.
  std::map<std::string, std::vector<std::string>, std::less<>> members_[4];
};

// A candidate node and how many more members (free GPUs / GPUs per member, computed by the
// caller) it can host now.
struct NodeCapacity {
  std::string node;
  int slots = 0;
};

struct MultiNodeChoice {
  // node -> members, in fill order: nodes of one group are adjacent (largest share first), so
  // handing out member ranks in this order keeps neighbouring ranks close.
  std::vector<std::pair<std::string, int>> placement;
  // The level of the single group that holds every member: "nvlink-domain", "rack", "block",
  // "zone"; or "cluster" when the job spans zones/racks (or their labels are unknown).
  std::string level;
  // 1 for a single group; for "cluster", the number of racks used (see ChooseNodes).
  int groups_spanned = 0;
  // The groups used, as GroupOf names them (for "cluster": rack groups, or "nvlink-domain:X" /
  // "node:X" for nodes without a rack label).
  std::vector<std::string> groups;
};

// Places `members` job members on `candidates` (only nodes with slots > 0 count), choosing the
// closest level that can hold the whole job:
//   1. one NVLink domain; among the domains that fit, the one with the least capacity (best
//      fit: big domains stay whole for big jobs; ties by name);
//   2. else one rack, 3. else one block, 4. else one zone (same best-fit rule);
//   5. else the fewest racks: racks by descending capacity until enough, the last one the
//      smallest rack that covers the rest (a node without a rack label counts as part of its
//      NVLink domain's pseudo-rack, or as a rack of its own).
// Inside the chosen group(s) the same rule applies one level down (a rack is filled by whole
// NVLink domains first), down to nodes: fewest nodes, most slots first, the last node the
// smallest that covers the rest, ties by name. Worked example: domain A (18 nodes x 1 slot),
// domain B (17 x 1) and a rack R of 4 nodes x 8 slots (32) without NVLink labels; 16 members
// -> domain B (tightest fit; A stays whole for an 18-member job), even though rack R has more
// room; 20 members -> rack R (no domain fits), on 3 nodes: 8 + 8 + 4.
//
// required_level: "any" (default) allows spanning; "nvlink-domain", "rack", "block" or "zone"
// demands one group at that level (a closer level counts only when it lies inside one such
// group, e.g. a domain split over two racks does not satisfy "rack").
//
// Errors:
//   InvalidArgument     members < 1, negative slots, empty or repeated node name, unknown
//                       required_level;
//   ResourceExhausted   total slots < members ("need 8 member slots; the 3 candidate nodes have
//                       6 in total");
//   FailedPrecondition  the required level cannot hold them ("no single NVLink domain can host
//                       8 members; largest has 6").
// The last two are availability, not infrastructure, failures: a plugin maps them to
// framework::Status::Unschedulable with the message as the reason (design G2).
absl::StatusOr<MultiNodeChoice> ChooseNodes(const ClusterTopology& topo,
                                            const std::vector<NodeCapacity>& candidates,
                                            int members, const std::string& required_level = "any");

}  // namespace gpusched::topology

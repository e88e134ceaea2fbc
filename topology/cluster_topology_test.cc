#include "topology/cluster_topology.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gpusched::topology {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using Placement = std::vector<std::pair<std::string, int>>;

constexpr char kClique[] = "nvidia.com/gpu.clique";
constexpr char kRack[] = "topology.gpusched.io/rack";
constexpr char kBlock[] = "topology.gpusched.io/block";
constexpr char kZone[] = "topology.kubernetes.io/zone";

// A node with the default label keys; empty values are left out.
ClusterTopology::NodeLabels Node(std::string name, std::string clique, std::string rack = "",
                                 std::string block = "", std::string zone = "") {
  std::map<std::string, std::string> labels;
  labels["kubernetes.io/hostname"] = name;
  if (!clique.empty()) labels[kClique] = clique;
  if (!rack.empty()) labels[kRack] = rack;
  if (!block.empty()) labels[kBlock] = block;
  if (!zone.empty()) labels[kZone] = zone;
  return {std::move(name), std::move(labels)};
}

MultiNodeChoice MustChoose(const ClusterTopology& topo, const std::vector<NodeCapacity>& cands,
                           int members, const std::string& required = "any") {
  absl::StatusOr<MultiNodeChoice> c = ChooseNodes(topo, cands, members, required);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *std::move(c) : MultiNodeChoice{};
}

int Total(const Placement& p) {
  int n = 0;
  for (const auto& [node, members] : p) n += members;
  return n;
}

std::set<std::string> GroupsUsed(const ClusterTopology& topo, const Placement& p, Level level) {
  std::set<std::string> out;
  for (const auto& [node, members] : p) out.insert(topo.GroupOf(node, level));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Labels

TEST(ClusterTopology, LabelsParsedWithDefaultKeys) {
  ClusterTopology topo = ClusterTopology::FromLabels({
      Node("gb-0", "5e2a9c1d-77b0-4c8e-9d1f-0a6b2c3d4e5f.1", "r1", "b1", "us-east1-a"),
      Node("plain", ""),
  });
  struct Case {
    std::string name;
    std::string node;
    NodePlace want;
  };
  const std::vector<Case> cases = {
      {"all four levels",
       "gb-0",
       {"gb-0", "5e2a9c1d-77b0-4c8e-9d1f-0a6b2c3d4e5f.1", "r1", "b1", "us-east1-a"}},
      {"no topology labels", "plain", {"plain", "", "", "", ""}},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    const NodePlace* p = topo.Find(tc.node);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p->node, tc.want.node);
    EXPECT_EQ(p->nvlink_domain, tc.want.nvlink_domain);
    EXPECT_EQ(p->rack, tc.want.rack);
    EXPECT_EQ(p->block, tc.want.block);
    EXPECT_EQ(p->zone, tc.want.zone);
  }
  EXPECT_EQ(topo.Find("ghost"), nullptr);
  EXPECT_THAT(topo.Nodes(), ElementsAre("gb-0", "plain"));
}

TEST(ClusterTopology, LabelsParsedWithCustomKeys) {
  LabelKeys gke;
  gke.nvlink_domain = "";  // level switched off
  gke.rack = "cloud.google.com/gce-topology-subblock";
  gke.block = "cloud.google.com/gce-topology-block";
  LabelKeys onprem;
  onprem.rack = "topology.kubernetes.io/rack";
  const std::map<std::string, std::string> labels = {
      {kClique, "c.1"},
      {"cloud.google.com/gce-topology-subblock", "sb7"},
      {"cloud.google.com/gce-topology-block", "blk3"},
      {"topology.kubernetes.io/rack", "rack-12"},
      {kZone, "z"},
      {kRack, "ignored-with-custom-keys"},
  };
  struct Case {
    std::string name;
    LabelKeys keys;
    NodePlace want;
  };
  const std::vector<Case> cases = {
      {"defaults", LabelKeys{}, {"n", "c.1", "ignored-with-custom-keys", "", "z"}},
      {"GKE blocks and sub-blocks, NVLink off", gke, {"n", "", "sb7", "blk3", "z"}},
      {"on-prem rack key", onprem, {"n", "c.1", "rack-12", "", "z"}},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    ClusterTopology topo = ClusterTopology::FromLabels({{"n", labels}}, tc.keys);
    const NodePlace* p = topo.Find("n");
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p->nvlink_domain, tc.want.nvlink_domain);
    EXPECT_EQ(p->rack, tc.want.rack);
    EXPECT_EQ(p->block, tc.want.block);
    EXPECT_EQ(p->zone, tc.want.zone);
    EXPECT_EQ(topo.keys().rack, tc.keys.rack);
  }
}

TEST(ClusterTopology, UnknownLabelsAreEmptyAndShareNothing) {
  ClusterTopology topo = ClusterTopology::FromLabels({
      {"a", {{kClique, ""}, {kRack, ""}, {"other", "x"}}},
      {"b", {}},
  });
  const NodePlace* a = topo.Find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->nvlink_domain, "");
  EXPECT_EQ(a->rack, "");
  for (Level l : {Level::kNvlinkDomain, Level::kRack, Level::kBlock, Level::kZone}) {
    SCOPED_TRACE(std::string(LevelName(l)));
    EXPECT_EQ(topo.GroupOf("a", l), "");
    EXPECT_THAT(topo.Groups(l), IsEmpty());
  }
  EXPECT_EQ(topo.Distance("a", "b"), 5);
}

TEST(ClusterTopology, RepeatedNodeReplacesEarlierAndEmptyNameIsSkipped) {
  ClusterTopology topo = ClusterTopology::FromLabels({
      Node("n", "old.1"),
      Node("", "c.9"),
      Node("n", "new.1"),
  });
  EXPECT_THAT(topo.Nodes(), ElementsAre("n"));
  EXPECT_EQ(topo.Find("n")->nvlink_domain, "new.1");
  EXPECT_THAT(topo.Groups(Level::kNvlinkDomain), ElementsAre("new.1"));
}

TEST(ClusterTopology, RacksAreNamedInsideTheirBlockAndZone) {
  ClusterTopology topo = ClusterTopology::FromLabels({
      Node("a1", "", "r1", "b1", "za"), Node("a2", "", "r1", "b1", "za"),
      Node("b1", "", "r1", "b1", "zb"),  // same rack and block label, other zone
      Node("c1", "", "r1"),              // rack label only
  });
  EXPECT_EQ(topo.GroupOf("a1", Level::kRack), "za/b1/r1");
  EXPECT_EQ(topo.GroupOf("a1", Level::kBlock), "za/b1");
  EXPECT_EQ(topo.GroupOf("a1", Level::kZone), "za");
  EXPECT_EQ(topo.GroupOf("c1", Level::kRack), "r1");
  EXPECT_EQ(topo.GroupOf("a1", Level::kNode), "a1");
  EXPECT_EQ(topo.GroupOf("a1", Level::kCluster), "");
  EXPECT_EQ(topo.GroupOf("ghost", Level::kRack), "");
  EXPECT_THAT(topo.Groups(Level::kRack), ElementsAre("r1", "za/b1/r1", "zb/b1/r1"));
  EXPECT_THAT(topo.NodesInRack("za/b1/r1"), ElementsAre("a1", "a2"));
  EXPECT_THAT(topo.NodesIn(Level::kZone, "zb"), ElementsAre("b1"));
  EXPECT_THAT(topo.NodesInRack("nope"), IsEmpty());
  EXPECT_EQ(topo.Distance("a1", "a2"), 2);
  EXPECT_EQ(topo.Distance("a1", "b1"), 5);
  EXPECT_EQ(topo.Distance("a1", "c1"), 5);
}

TEST(ClusterTopology, NodesInNvlinkDomainAreSortedByName) {
  ClusterTopology topo = ClusterTopology::FromLabels(
      {Node("n3", "u.1"), Node("n1", "u.1"), Node("n2", "u.2"), Node("n0", "u.1")});
  EXPECT_THAT(topo.NodesInNvlinkDomain("u.1"), ElementsAre("n0", "n1", "n3"));
  EXPECT_THAT(topo.Groups(Level::kNvlinkDomain), ElementsAre("u.1", "u.2"));
}

TEST(ClusterTopology, DistanceIsTheClosestSharedLevel) {
  ClusterTopology topo = ClusterTopology::FromLabels({
      Node("n1", "c1", "r1", "b1", "z1"), Node("n2", "c1", "r1", "b1", "z1"),
      Node("n3", "c2", "r1", "b1", "z1"), Node("n4", "", "r2", "b1", "z1"),
      Node("n5", "", "r3", "b2", "z1"), Node("n6", "", "", "", "z2"), Node("n7", ""),
      Node("n8", ""), Node("x1", "c1", "r9", "b9", "z9"),  // NVL36x2-like: one domain across racks
  });
  struct Case {
    std::string name;
    std::string a, b;
    int want;
  };
  const std::vector<Case> cases = {
      {"same node", "n1", "n1", 0},
      {"same NVLink domain", "n1", "n2", 1},
      {"same rack, other domain", "n1", "n3", 2},
      {"same block", "n1", "n4", 3},
      {"same zone", "n1", "n5", 4},
      {"other zone", "n1", "n6", 5},
      {"both unlabelled", "n7", "n8", 5},
      {"unknown node", "n1", "ghost", 5},
      {"unknown node with itself", "ghost", "ghost", 0},
      {"domain across racks and zones", "n1", "x1", 1},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    EXPECT_EQ(topo.Distance(tc.a, tc.b), tc.want);
    EXPECT_EQ(topo.Distance(tc.b, tc.a), tc.want);
  }
}

TEST(ClusterTopology, LevelNames) {
  EXPECT_EQ(LevelName(Level::kNode), "node");
  EXPECT_EQ(LevelName(Level::kNvlinkDomain), "nvlink-domain");
  EXPECT_EQ(LevelName(Level::kRack), "rack");
  EXPECT_EQ(LevelName(Level::kBlock), "block");
  EXPECT_EQ(LevelName(Level::kZone), "zone");
  EXPECT_EQ(LevelName(Level::kCluster), "cluster");
}

// ---------------------------------------------------------------------------------------------
// ChooseNodes

TEST(MultiNodeChoose, FitsInOneNvlinkDomainEvenIfAnotherRackHasMoreCapacity) {
  ClusterTopology topo = ClusterTopology::FromLabels({
      Node("d-0", "dom.1", "r1"),
      Node("d-1", "dom.1", "r1"),
      Node("d-2", "dom.1", "r1"),
      Node("d-3", "dom.1", "r1"),
      Node("big-0", "", "r2"),
      Node("big-1", "", "r2"),
  });
  const std::vector<NodeCapacity> cands = {{"big-0", 8}, {"big-1", 8}, {"d-0", 2},
                                           {"d-1", 2},   {"d-2", 2},   {"d-3", 2}};
  MultiNodeChoice c = MustChoose(topo, cands, 6);
  EXPECT_EQ(c.level, "nvlink-domain");
  EXPECT_EQ(c.groups_spanned, 1);
  EXPECT_THAT(c.groups, ElementsAre("dom.1"));
  EXPECT_EQ(Total(c.placement), 6);
  EXPECT_EQ(GroupsUsed(topo, c.placement, Level::kNvlinkDomain), std::set<std::string>{"dom.1"});
  EXPECT_EQ(c.placement.size(), 3u);
}

TEST(MultiNodeChoose, PicksTheTightestDomainThatFits) {
  std::vector<ClusterTopology::NodeLabels> nodes;
  std::vector<NodeCapacity> cands;
  const std::vector<std::pair<std::string, int>> domains = {{"A", 18}, {"B", 17}, {"C", 12}};
  for (const auto& [dom, n] : domains) {
    for (int i = 0; i < n; ++i) {
      std::string name = absl::StrFormat("%s-%02d", dom, i);
      nodes.push_back(Node(name, dom));
      cands.push_back({name, 1});
    }
  }
  ClusterTopology topo = ClusterTopology::FromLabels(nodes);
  struct Case {
    std::string name;
    int members;
    std::string want_domain;
  };
  const std::vector<Case> cases = {
      {"16 fit B (17) and A (18): B is tighter", 16, "B"},
      {"17 fit B exactly", 17, "B"},
      {"18 only fit A", 18, "A"},
      {"12 fit C exactly", 12, "C"},
      {"1 fits the smallest domain", 1, "C"},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    MultiNodeChoice c = MustChoose(topo, cands, tc.members);
    EXPECT_EQ(c.level, "nvlink-domain");
    EXPECT_THAT(c.groups, ElementsAre(tc.want_domain));
    EXPECT_EQ(Total(c.placement), tc.members);
    EXPECT_EQ(GroupsUsed(topo, c.placement, Level::kNvlinkDomain),
              std::set<std::string>{tc.want_domain});
  }
}

TEST(MultiNodeChoose, InsideTheGroupUsesFewestNodesAndTheSmallestLastNode) {
  ClusterTopology topo =
      ClusterTopology::FromLabels({Node("a", "d"), Node("b", "d"), Node("c", "d"), Node("e", "d")});
  // 5 members: two nodes are needed; 4 + 1 leaves the 4-slot "b" and the 2-slot "c" whole.
  MultiNodeChoice c = MustChoose(topo, {{"a", 4}, {"b", 4}, {"c", 2}, {"e", 1}}, 5);
  EXPECT_EQ(c.placement, (Placement{{"a", 4}, {"e", 1}}));
}

TEST(MultiNodeChoose, FallsBackToOneRackFilledByWholeDomains) {
  ClusterTopology topo = ClusterTopology::FromLabels({
      Node("d1-0", "d1", "r1"), Node("d1-1", "d1", "r1"),  // d1: 4 slots
      Node("d2-0", "d2", "r1"), Node("d2-1", "d2", "r1"),  // d2: 4 slots
      Node("x", "", "r1"),                                 // no domain: 2 slots
      Node("d3-0", "d3", "r2"), Node("d3-1", "d3", "r2"),  // r2: 4 slots
  });
  const std::vector<NodeCapacity> cands = {{"d1-0", 2}, {"d1-1", 2}, {"d2-0", 2}, {"d2-1", 2},
                                           {"x", 2},    {"d3-0", 2}, {"d3-1", 2}};
  MultiNodeChoice c = MustChoose(topo, cands, 9);
  EXPECT_EQ(c.level, "rack");
  EXPECT_EQ(c.groups_spanned, 1);
  EXPECT_THAT(c.groups, ElementsAre("r1"));
  EXPECT_EQ(c.placement, (Placement{{"d1-0", 2}, {"d1-1", 2}, {"d2-0", 2}, {"d2-1", 2}, {"x", 1}}));
}

TEST(MultiNodeChoose, FallsBackThroughBlockAndZoneToFewestRacks) {
  ClusterTopology topo = ClusterTopology::FromLabels({
      Node("r1-0", "", "r1", "b1", "z"),
      Node("r2-0", "", "r2", "b1", "z"),
      Node("r3-0", "", "r3", "b2", "z"),
      Node("r4-0", "", "r4", "b3", "y"),
  });
  const std::vector<NodeCapacity> cands = {{"r1-0", 4}, {"r2-0", 4}, {"r3-0", 4}, {"r4-0", 3}};
  struct Case {
    std::string name;
    int members;
    std::string level;
    std::vector<std::string> groups;
    Placement placement;
  };
  const std::vector<Case> cases = {
      {"one rack", 4, "rack", {"z/b1/r1"}, {{"r1-0", 4}}},
      {"one block", 6, "block", {"z/b1"}, {{"r1-0", 4}, {"r2-0", 2}}},
      {"one zone", 10, "zone", {"z"}, {{"r1-0", 4}, {"r2-0", 4}, {"r3-0", 2}}},
      {"spans zones: fewest racks, smallest last",
       13,
       "cluster",
       {"z/b1/r1", "z/b1/r2", "z/b2/r3", "y/b3/r4"},
       {{"r1-0", 4}, {"r2-0", 4}, {"r3-0", 4}, {"r4-0", 1}}},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    MultiNodeChoice c = MustChoose(topo, cands, tc.members);
    EXPECT_EQ(c.level, tc.level);
    EXPECT_EQ(c.groups, tc.groups);
    EXPECT_EQ(c.groups_spanned, static_cast<int>(tc.groups.size()));
    EXPECT_EQ(c.placement, tc.placement);
  }
}

TEST(MultiNodeChoose, SpanningTakesFewestRacksWithTheTightestLastRack) {
  std::vector<ClusterTopology::NodeLabels> nodes;
  std::vector<NodeCapacity> cands;
  // Racks of 10, 6, 4 and 3 slots (one slot per node).
  const std::vector<std::pair<std::string, int>> racks = {
      {"r1", 10}, {"r2", 6}, {"r3", 4}, {"r4", 3}};
  for (const auto& [rack, n] : racks) {
    for (int i = 0; i < n; ++i) {
      std::string name = absl::StrFormat("%s-%02d", rack, i);
      nodes.push_back(Node(name, "", rack));
      cands.push_back({name, 1});
    }
  }
  ClusterTopology topo = ClusterTopology::FromLabels(nodes);
  MultiNodeChoice c = MustChoose(topo, cands, 13);
  EXPECT_EQ(c.level, "cluster");
  EXPECT_EQ(c.groups_spanned, 2);
  EXPECT_THAT(c.groups, ElementsAre("r1", "r4"));  // 10 + 3: r2 and r3 stay whole
  EXPECT_EQ(Total(c.placement), 13);
  // Fill order keeps a rack's nodes adjacent: ten r1 nodes, then three r4 nodes.
  for (size_t i = 0; i < c.placement.size(); ++i) {
    EXPECT_EQ(topo.GroupOf(c.placement[i].first, Level::kRack), i < 10 ? "r1" : "r4") << i;
  }
}

TEST(MultiNodeChoose, SpanningWithoutRackLabelsKeepsNvlinkDomainsTogether) {
  std::vector<ClusterTopology::NodeLabels> nodes;
  std::vector<NodeCapacity> cands;
  for (const std::string dom : {"u.1", "u.2", "u.3"}) {
    for (int i = 0; i < 8; ++i) {
      std::string name = absl::StrCat("n", dom, "-", i);
      nodes.push_back(Node(name, dom));
      cands.push_back({name, 1});
    }
  }
  ClusterTopology topo = ClusterTopology::FromLabels(nodes);
  MultiNodeChoice c = MustChoose(topo, cands, 10);
  EXPECT_EQ(c.level, "cluster");
  EXPECT_EQ(c.groups_spanned, 2);
  EXPECT_THAT(c.groups, ElementsAre("nvlink-domain:u.1", "nvlink-domain:u.2"));
  EXPECT_EQ(GroupsUsed(topo, c.placement, Level::kNvlinkDomain),
            (std::set<std::string>{"u.1", "u.2"}));
}

TEST(MultiNodeChoose, RequiredLevelFailsWithAClearMessage) {
  ClusterTopology topo = ClusterTopology::FromLabels({
      Node("a-0", "A", "r1"),
      Node("a-1", "A", "r1"),
      Node("a-2", "A", "r1"),
      Node("b-0", "B", "r2"),
      Node("b-1", "B", "r2"),
      Node("plain", ""),
  });
  const std::vector<NodeCapacity> cands = {{"a-0", 2}, {"a-1", 2}, {"a-2", 2},
                                           {"b-0", 2}, {"b-1", 2}, {"plain", 8}};
  struct Case {
    std::string name;
    std::string required;
    int members;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"domain", "nvlink-domain", 8, "no single NVLink domain can host 8 members; largest has 6"},
      {"rack", "rack", 8, "no single rack can host 8 members; largest has 6"},
      {"no block labels", "block", 8,
       "no single block can host 8 members; no candidate node has the block label "
       "topology.gpusched.io/block"},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    absl::StatusOr<MultiNodeChoice> c = ChooseNodes(topo, cands, tc.members, tc.required);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(c.status().message(), tc.message);
  }
  // "any" spans instead.
  MultiNodeChoice any = MustChoose(topo, cands, 8);
  EXPECT_EQ(any.level, "cluster");
  EXPECT_EQ(Total(any.placement), 8);
  // A level switched off says so.
  LabelKeys no_rack;
  no_rack.rack = "";
  ClusterTopology t2 = ClusterTopology::FromLabels({Node("a-0", "A", "r1")}, no_rack);
  absl::StatusOr<MultiNodeChoice> c = ChooseNodes(t2, {{"a-0", 1}}, 1, "rack");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("no label key is configured for the rack level"));
}

TEST(MultiNodeChoose, RequiredRackIsNotSatisfiedByADomainSplitOverRacks) {
  // NVL36x2-like: domain D spans racks r1 and r2; rack r3 has no NVLink domain.
  ClusterTopology topo = ClusterTopology::FromLabels({
      Node("d-0", "D", "r1"),
      Node("d-1", "D", "r1"),
      Node("d-2", "D", "r2"),
      Node("d-3", "D", "r2"),
      Node("p-0", "", "r3"),
      Node("p-1", "", "r3"),
  });
  const std::vector<NodeCapacity> cands = {{"d-0", 1}, {"d-1", 1}, {"d-2", 1},
                                           {"d-3", 1}, {"p-0", 2}, {"p-1", 2}};
  MultiNodeChoice any = MustChoose(topo, cands, 4);
  EXPECT_EQ(any.level, "nvlink-domain");
  EXPECT_THAT(any.groups, ElementsAre("D"));

  MultiNodeChoice rack = MustChoose(topo, cands, 4, "rack");
  EXPECT_EQ(rack.level, "rack");
  EXPECT_THAT(rack.groups, ElementsAre("r3"));
  EXPECT_EQ(rack.placement, (Placement{{"p-0", 2}, {"p-1", 2}}));

  // 2 members fit the part of D inside r1: a domain inside one rack still counts.
  MultiNodeChoice small = MustChoose(topo, cands, 2, "rack");
  EXPECT_EQ(small.level, "nvlink-domain");
  EXPECT_EQ(GroupsUsed(topo, small.placement, Level::kRack), std::set<std::string>{"r1"});
}

// GB200 NVL72-like: 36 nodes in 2 NVLink domains (cliques) of 18 nodes x 4 GPUs; a job of 16
// members x 4 GPUs (one member per node).
TEST(MultiNodeChoose, Gb200Nvl72JobLandsInOneDomain) {
  const std::string kCluster = "8d2c5f0e-3b1a-4c7d-9e6f-1a2b3c4d5e6f";
  std::vector<ClusterTopology::NodeLabels> nodes;
  for (int d = 1; d <= 2; ++d) {
    for (int i = 0; i < 18; ++i) {
      nodes.push_back(Node(absl::StrFormat("gb200-d%d-%02d", d, i), absl::StrCat(kCluster, ".", d),
                           absl::StrCat("nvl72-rack-", d), "", "zone-1"));
    }
  }
  ClusterTopology topo = ClusterTopology::FromLabels(nodes);
  const int kGpusPerMember = 4;
  auto capacities = [&](int busy_in_d1, int busy_in_d2) {
    std::vector<NodeCapacity> cands;
    for (const auto& [name, labels] : nodes) {
      const bool d1 = name.rfind("gb200-d1-", 0) == 0;
      const int index = std::stoi(name.substr(name.size() - 2));
      const bool busy = index < (d1 ? busy_in_d1 : busy_in_d2);
      const int free_gpus = busy ? 0 : 4;
      cands.push_back({name, free_gpus / kGpusPerMember});
    }
    return cands;
  };
  struct Case {
    std::string name;
    int busy_d1, busy_d2;
    std::string want_domain;
  };
  const std::vector<Case> cases = {
      {"both whole: ties by name", 0, 0, kCluster + ".1"},
      {"only 16 of 18 schedulable in d2: d2 is the exact fit", 0, 2, kCluster + ".2"},
      {"d1 has only 15: d2", 3, 0, kCluster + ".2"},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    MultiNodeChoice c = MustChoose(topo, capacities(tc.busy_d1, tc.busy_d2), 16);
    EXPECT_EQ(c.level, "nvlink-domain");
    EXPECT_EQ(c.groups_spanned, 1);
    EXPECT_THAT(c.groups, ElementsAre(tc.want_domain));
    ASSERT_EQ(c.placement.size(), 16u);
    for (const auto& [node, members] : c.placement) {
      EXPECT_EQ(members, 1) << node;
      EXPECT_EQ(topo.Find(node)->nvlink_domain, tc.want_domain) << node;
    }
  }
  // Larger than a domain: one zone, one whole domain plus the rest from the other.
  MultiNodeChoice big = MustChoose(topo, capacities(0, 0), 20);
  EXPECT_EQ(big.level, "zone");
  EXPECT_EQ(Total(big.placement), 20);
  std::map<std::string, int> per_domain;
  for (const auto& [node, members] : big.placement) per_domain[topo.Find(node)->nvlink_domain]++;
  EXPECT_EQ(per_domain, (std::map<std::string, int>{{kCluster + ".1", 18}, {kCluster + ".2", 2}}));
}

TEST(MultiNodeChoose, IsDeterministicWhateverTheCandidateOrder) {
  std::vector<ClusterTopology::NodeLabels> nodes;
  std::vector<NodeCapacity> cands;
  for (int i = 0; i < 24; ++i) {
    std::string name = absl::StrFormat("n%02d", i);
    // Domains of equal capacity, racks of two domains, two zones.
    nodes.push_back(Node(name, absl::StrCat("d", i / 4), absl::StrCat("r", i / 8), "",
                         absl::StrCat("z", i / 16)));
    cands.push_back({name, 1 + i % 3});
  }
  ClusterTopology topo = ClusterTopology::FromLabels(nodes);
  for (int members : {1, 5, 7, 12, 20, 40}) {
    SCOPED_TRACE(members);
    const MultiNodeChoice want = MustChoose(topo, cands, members);
    std::vector<NodeCapacity> reversed(cands.rbegin(), cands.rend());
    std::vector<NodeCapacity> rotated = cands;
    std::rotate(rotated.begin(), rotated.begin() + 7, rotated.end());
    for (const auto* order : {&cands, &reversed, &rotated}) {
      const MultiNodeChoice got = MustChoose(topo, *order, members);
      EXPECT_EQ(got.placement, want.placement);
      EXPECT_EQ(got.level, want.level);
      EXPECT_EQ(got.groups, want.groups);
      EXPECT_EQ(got.groups_spanned, want.groups_spanned);
    }
    EXPECT_EQ(Total(want.placement), members);
  }
}

TEST(MultiNodeChoose, CandidatesOutsideTheTopologyAndWithNoSlots) {
  ClusterTopology topo = ClusterTopology::FromLabels({Node("a", "D"), Node("b", "D")});
  // "stranger" is not in the topology: unknown at every level, so it never joins a domain.
  MultiNodeChoice c = MustChoose(topo, {{"a", 0}, {"b", 1}, {"stranger", 4}}, 2);
  EXPECT_EQ(c.level, "cluster");
  EXPECT_THAT(c.groups, ElementsAre("node:stranger"));
  EXPECT_EQ(c.placement, (Placement{{"stranger", 2}}));
}

TEST(MultiNodeChoose, RejectsBadInput) {
  ClusterTopology topo = ClusterTopology::FromLabels({Node("a", "D"), Node("b", "D")});
  struct Case {
    std::string name;
    std::vector<NodeCapacity> cands;
    int members;
    std::string required;
    absl::StatusCode code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"zero members",
       {{"a", 1}},
       0,
       "any",
       absl::StatusCode::kInvalidArgument,
       "members: must be >= 1, got 0"},
      {"negative members",
       {{"a", 1}},
       -3,
       "any",
       absl::StatusCode::kInvalidArgument,
       "members: must be >= 1, got -3"},
      {"negative slots",
       {{"a", 1}, {"b", -1}},
       1,
       "any",
       absl::StatusCode::kInvalidArgument,
       "candidates[1] (b): slots must be >= 0, got -1"},
      {"empty node name",
       {{"", 1}},
       1,
       "any",
       absl::StatusCode::kInvalidArgument,
       "candidates[0]: empty node name"},
      {"repeated node",
       {{"a", 1}, {"a", 2}},
       1,
       "any",
       absl::StatusCode::kInvalidArgument,
       "candidates[1]: node a listed twice"},
      {"unknown required level",
       {{"a", 1}},
       1,
       "host",
       absl::StatusCode::kInvalidArgument,
       "required_level \"host\": want one of any, nvlink-domain, rack, block, zone"},
      {"not enough capacity",
       {{"a", 2}, {"b", 1}},
       4,
       "any",
       absl::StatusCode::kResourceExhausted,
       "need 4 member slots; the 2 candidate nodes have 3 in total"},
      {"no candidates",
       {},
       1,
       "nvlink-domain",
       absl::StatusCode::kResourceExhausted,
       "need 1 member slots; the 0 candidate nodes have 0 in total"},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    absl::StatusOr<MultiNodeChoice> c = ChooseNodes(topo, tc.cands, tc.members, tc.required);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.status().code(), tc.code);
    EXPECT_EQ(c.status().message(), tc.message);
  }
}

}  // namespace
}  // namespace gpusched::topology

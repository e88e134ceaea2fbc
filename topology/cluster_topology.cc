#include "topology/cluster_topology.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace gpusched::topology {
namespace {

// Index of a group level (kNvlinkDomain..kZone) in the per-level arrays.
constexpr int kGroupLevels = 4;
int Index(Level level) { return static_cast<int>(level) - 1; }
bool IsGroupLevel(Level level) { return level >= Level::kNvlinkDomain && level <= Level::kZone; }
Level Below(Level level) { return static_cast<Level>(static_cast<int>(level) - 1); }

std::string Label(const std::map<std::string, std::string>& labels, const std::string& key) {
  if (key.empty()) return "";
  auto it = labels.find(key);
  return it == labels.end() ? "" : it->second;
}

// "a/b/c" from the non-empty parts, outermost first.
std::string Nested(std::initializer_list<const std::string*> parts) {
  std::string out;
  for (const std::string* p : parts) {
    if (p->empty()) continue;
    if (!out.empty()) out += '/';
    out += *p;
  }
  return out;
}

// What a level is called in messages.
std::string HumanName(Level level) {
  switch (level) {
    case Level::kNvlinkDomain:
      return "NVLink domain";
    case Level::kRack:
      return "rack";
    case Level::kBlock:
      return "block";
    case Level::kZone:
      return "zone";
    default:
      return std::string(LevelName(level));
  }
}

const std::string& KeyOf(const LabelKeys& keys, Level level) {
  switch (level) {
    case Level::kNvlinkDomain:
      return keys.nvlink_domain;
    case Level::kRack:
      return keys.rack;
    case Level::kBlock:
      return keys.block;
    default:
      return keys.zone;
  }
}

// One candidate with slots > 0 and its groups at every level.
struct Candidate {
  std::string node;
  int64_t slots = 0;
  std::string group[kGroupLevels];  // "" = unknown
};

// The unit a candidate belongs to when filling at `level`: its group there, or, when that is
// unknown, its group at the closest known level below, tagged with the level's name, or
// "node:<name>". Units are therefore never shared through an unknown label.
std::string UnitKey(const Candidate& c, Level level) {
  if (level == Level::kNode) return c.node;
  for (Level l = level; l != Level::kNode; l = Below(l)) {
    const std::string& g = c.group[Index(l)];
    if (g.empty()) continue;
    return l == level ? g : absl::StrCat(std::string(LevelName(l)), ":", g);
  }
  return absl::StrCat("node:", c.node);
}

struct Unit {
  std::string key;
  int64_t capacity = 0;
  std::vector<const Candidate*> members;  // candidates in the unit
};

// The fewest units that hold `need`: units by descending capacity (ties by key) until the
// last one needed, which is the smallest remaining unit that covers the rest (ties by key).
// Returns (unit, amount taken) in fill order. Requires the units' total >= need.
std::vector<std::pair<const Unit*, int64_t>> SelectUnits(const std::vector<Unit>& units,
                                                         int64_t need) {
  std::vector<const Unit*> order;
  order.reserve(units.size());
  for (const Unit& u : units) order.push_back(&u);
  std::sort(order.begin(), order.end(), [](const Unit* a, const Unit* b) {
    if (a->capacity != b->capacity) return a->capacity > b->capacity;
    return a->key < b->key;
  });
  size_t k = 0;  // units needed
  int64_t sum = 0;
  while (k < order.size() && sum < need) sum += order[k++]->capacity;
  std::vector<std::pair<const Unit*, int64_t>> out;
  int64_t taken = 0;
  for (size_t i = 0; i + 1 < k; ++i) {
    out.emplace_back(order[i], order[i]->capacity);
    taken += order[i]->capacity;
  }
  const int64_t rest = need - taken;
  const Unit* last = nullptr;
  for (size_t i = k - 1; i < order.size(); ++i) {
    const Unit* u = order[i];
    if (u->capacity < rest) continue;
    if (last == nullptr || u->capacity < last->capacity ||
        (u->capacity == last->capacity && u->key < last->key)) {
      last = u;
    }
  }
  out.emplace_back(last, rest);
  return out;
}

std::vector<Unit> MakeUnits(const std::vector<const Candidate*>& cands, Level level) {
  std::map<std::string, Unit> by_key;
  for (const Candidate* c : cands) {
    std::string key = UnitKey(*c, level);
    Unit& u = by_key[key];
    u.key = std::move(key);
    u.capacity += c->slots;
    u.members.push_back(c);
  }
  std::vector<Unit> units;
  units.reserve(by_key.size());
  for (auto& [key, u] : by_key) units.push_back(std::move(u));
  return units;
}

// Places `need` members on `cands` (total capacity >= need), unit by unit at `level`, each unit
// filled the same way one level down, down to nodes. Appends to `placement`; returns the keys of
// the units used at `level`.
std::vector<std::string> Fill(const std::vector<const Candidate*>& cands, int64_t need, Level level,
                              std::vector<std::pair<std::string, int>>& placement) {
  std::vector<Unit> units = MakeUnits(cands, level);
  std::vector<std::string> used;
  for (const auto& [unit, take] : SelectUnits(units, need)) {
    used.push_back(unit->key);
    if (level == Level::kNode) {
      placement.emplace_back(unit->key, static_cast<int>(take));
    } else {
      Fill(unit->members, take, Below(level), placement);
    }
  }
  return used;
}

std::optional<Level> ParseRequired(const std::string& s) {
  if (s == "any") return Level::kCluster;
  for (Level l : {Level::kNvlinkDomain, Level::kRack, Level::kBlock, Level::kZone}) {
    if (s == LevelName(l)) return l;
  }
  return std::nullopt;
}

}  // namespace

std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kNode:
      return "node";
    case Level::kNvlinkDomain:
      return "nvlink-domain";
    case Level::kRack:
      return "rack";
    case Level::kBlock:
      return "block";
    case Level::kZone:
      return "zone";
    case Level::kCluster:
      return "cluster";
  }
  return "cluster";
}

ClusterTopology ClusterTopology::FromLabels(const std::vector<NodeLabels>& nodes_with_labels,
                                            const LabelKeys& keys) {
  ClusterTopology t;
  t.keys_ = keys;
  for (const auto& [name, labels] : nodes_with_labels) {
    if (name.empty()) continue;
    Entry e;
    e.place.node = name;
    e.place.nvlink_domain = Label(labels, keys.nvlink_domain);
    e.place.rack = Label(labels, keys.rack);
    e.place.block = Label(labels, keys.block);
    e.place.zone = Label(labels, keys.zone);
    const NodePlace& p = e.place;
    e.groups[Index(Level::kNvlinkDomain)] = p.nvlink_domain;
    e.groups[Index(Level::kRack)] = p.rack.empty() ? "" : Nested({&p.zone, &p.block, &p.rack});
    e.groups[Index(Level::kBlock)] = p.block.empty() ? "" : Nested({&p.zone, &p.block});
    e.groups[Index(Level::kZone)] = p.zone;
    t.nodes_.insert_or_assign(name, std::move(e));
  }
  for (const auto& [name, e] : t.nodes_) {  // ascending names, so member lists are sorted
    for (int i = 0; i < kGroupLevels; ++i) {
      if (!e.groups[i].empty()) t.members_[i][e.groups[i]].push_back(name);
    }
  }
  return t;
}

std::vector<std::string> ClusterTopology::Nodes() const {
  std::vector<std::string> out;
  out.reserve(nodes_.size());
  for (const auto& [name, e] : nodes_) out.push_back(name);
  return out;
}

const ClusterTopology::Entry* ClusterTopology::FindEntry(std::string_view node) const {
  auto it = nodes_.find(node);
  return it == nodes_.end() ? nullptr : &it->second;
}

const NodePlace* ClusterTopology::Find(std::string_view node) const {
  const Entry* e = FindEntry(node);
  return e == nullptr ? nullptr : &e->place;
}

std::string ClusterTopology::GroupOf(std::string_view node, Level level) const {
  const Entry* e = FindEntry(node);
  if (e == nullptr) return "";
  if (level == Level::kNode) return e->place.node;
  if (!IsGroupLevel(level)) return "";
  return e->groups[Index(level)];
}

std::vector<std::string> ClusterTopology::Groups(Level level) const {
  std::vector<std::string> out;
  if (!IsGroupLevel(level)) return out;
  for (const auto& [group, nodes] : members_[Index(level)]) out.push_back(group);
  return out;
}

std::vector<std::string> ClusterTopology::NodesIn(Level level, std::string_view group) const {
  if (!IsGroupLevel(level)) return {};
  const auto& m = members_[Index(level)];
  auto it = m.find(group);
  return it == m.end() ? std::vector<std::string>{} : it->second;
}

int ClusterTopology::Distance(std::string_view a, std::string_view b) const {
  if (a == b) return 0;
  const Entry* ea = FindEntry(a);
  const Entry* eb = FindEntry(b);
  if (ea == nullptr || eb == nullptr) return static_cast<int>(Level::kCluster);
  for (int i = 0; i < kGroupLevels; ++i) {
    if (!ea->groups[i].empty() && ea->groups[i] == eb->groups[i]) return i + 1;
  }
  return static_cast<int>(Level::kCluster);
}

absl::StatusOr<MultiNodeChoice> ChooseNodes(const ClusterTopology& topo,
                                            const std::vector<NodeCapacity>& candidates,
                                            int members, const std::string& required_level) {
  if (members < 1) {
    return absl::InvalidArgumentError(absl::StrCat("members: must be >= 1, got ", members));
  }
  const std::optional<Level> required = ParseRequired(required_level);
  if (!required) {
    return absl::InvalidArgumentError(
        absl::StrCat("required_level \"", required_level,
                     "\": want one of any, nvlink-domain, rack, block, zone"));
  }
  std::vector<Candidate> cands;
  std::set<std::string, std::less<>> seen;
  int64_t total = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const NodeCapacity& nc = candidates[i];
    if (nc.node.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("candidates[", i, "]: empty node name"));
    }
    if (nc.slots < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("candidates[", i, "] (", nc.node, "): slots must be >= 0, got ", nc.slots));
    }
    if (!seen.insert(nc.node).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("candidates[", i, "]: node ", nc.node, " listed twice"));
    }
    if (nc.slots == 0) continue;
    Candidate c;
    c.node = nc.node;
    c.slots = nc.slots;
    for (Level l : {Level::kNvlinkDomain, Level::kRack, Level::kBlock, Level::kZone}) {
      c.group[Index(l)] = topo.GroupOf(nc.node, l);
    }
    total += nc.slots;
    cands.push_back(std::move(c));
  }
  if (total < members) {
    return absl::ResourceExhaustedError(absl::StrCat("need ", members, " member slots; the ",
                                                     candidates.size(), " candidate nodes have ",
                                                     total, " in total"));
  }

  // One group per level, closest level first. Under a required level R, a group at a closer
  // level counts only within one group of R (its key is paired with the R group).
  const Level last = *required == Level::kCluster ? Level::kZone : *required;
  for (Level level = Level::kNvlinkDomain; level <= last;
       level = static_cast<Level>(static_cast<int>(level) + 1)) {
    const bool paired = *required != Level::kCluster && level != *required;
    std::map<std::string, std::pair<int64_t, std::vector<const Candidate*>>> groups;
    for (const Candidate& c : cands) {
      const std::string& g = c.group[Index(level)];
      if (g.empty()) continue;
      std::string key = g;
      if (paired) {
        const std::string& r = c.group[Index(*required)];
        if (r.empty()) continue;
        key = absl::StrCat(g, "\n", r);  // '\n' never occurs in label values
      }
      auto& [cap, nodes] = groups[key];
      cap += c.slots;
      nodes.push_back(&c);
    }
    const std::pair<int64_t, std::vector<const Candidate*>>* best = nullptr;
    std::string best_key;
    for (const auto& [key, group] : groups) {  // ascending keys: first of equal capacity wins
      if (group.first < members) continue;
      if (best == nullptr || group.first < best->first) {
        best = &group;
        best_key = key;
      }
    }
    if (best == nullptr) continue;
    MultiNodeChoice choice;
    choice.level = std::string(LevelName(level));
    choice.groups_spanned = 1;
    choice.groups.push_back(best->second.front()->group[Index(level)]);
    Fill(best->second, members, Below(level), choice.placement);
    return choice;
  }

  if (*required != Level::kCluster) {
    const int r = Index(*required);
    std::map<std::string, int64_t> caps;
    for (const Candidate& c : cands) {
      if (!c.group[r].empty()) caps[c.group[r]] += c.slots;
    }
    const std::string prefix =
        absl::StrCat("no single ", HumanName(*required), " can host ", members, " members; ");
    if (caps.empty()) {
      const std::string& key = KeyOf(topo.keys(), *required);
      return absl::FailedPreconditionError(
          key.empty() ? absl::StrCat(prefix, "no label key is configured for the ",
                                     HumanName(*required), " level")
                      : absl::StrCat(prefix, "no candidate node has the ", HumanName(*required),
                                     " label ", key));
    }
    int64_t largest = 0;
    for (const auto& [g, cap] : caps) largest = std::max(largest, cap);
    return absl::FailedPreconditionError(absl::StrCat(prefix, "largest has ", largest));
  }

  MultiNodeChoice choice;
  choice.level = std::string(LevelName(Level::kCluster));
  std::vector<const Candidate*> all;
  all.reserve(cands.size());
  for (const Candidate& c : cands) all.push_back(&c);
  choice.groups = Fill(all, members, Level::kRack, choice.placement);
  choice.groups_spanned = static_cast<int>(choice.groups.size());
  return choice;
}

}  // namespace gpusched::topology

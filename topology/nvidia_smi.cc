#include "topology/nvidia_smi.h"

// From `nvidia-smi topo -m` to a GpuTopology.
//
// Accepted text: optional blank lines; a header row of device columns (GPU<n>, NIC<n>, or NIC
// names such as mlx5_0 in older drivers) followed by any of "CPU Affinity", "NUMA Affinity",
// "GPU NUMA ID"; one row per device column; then, after a blank line, the "Legend:" and
// "NIC Legend:" blocks (NIC<n>: <name> lines there rename the NICs). ANSI escape sequences (the
// underlined header on a terminal) are ignored. Cells: X, NV<n>, PIX, PXB, PHB, NODE, SYS (and
// SOC, the old name of SYS).
//
// What the cells become (the nvidia-smi legend read as structure):
//   NUMA nodes  one kCpuSocket per NUMA Affinity value. Devices without one (NICs, N/A) join the
//               node of the devices they share PCIe with (PIX/PXB/PHB/NODE); groups still
//               unplaced join the first node none of their members is SYS to, else a new node
//               (numbered from the lowest unused value). Every pair of nodes is joined by an
//               inter-socket link.
//   NODE        different host bridges of one node: each group of devices that are PIX/PXB/PHB
//               to each other gets its own kHostBridge under the node.
//   PHB         under the same host bridge.
//   PXB         under one upper PCIe switch (the extra bridge hop); each PIX group below it
//               gets its own leaf switch, so two of them are >= 2 bridges apart.
//   PIX         under the same PCIe switch.
//   NV<n>       an NVLink link with count n between the two GPUs. A set of GPUs that are all
//               pairwise NV<c> with c x (n-1) > 18 (more links than any GPU has: 18 on
//               Hopper/Blackwell) sits on an NVSwitch: one logical kNvSwitch device, each GPU
//               joined by c links (see presets.cc for why one device).
//   SYS         devices on different NUMA nodes (via the inter-socket link).
// GPU pairs printed as NV<n> hide their PCIe relation; it is left to their other cells.
//
// Speeds: topo -m prints none, so every link is generation 0 (NVLink 25 GB/s per link; PCIe
// gen3 x16), with the same host-bridge and inter-socket modelling factors as presets.cc.
// Bandwidths from a parsed topology therefore order pairs correctly (NV > PIX/PXB/PHB > NODE >
// SYS) but are not the machine's absolute figures (GB200's 50 GB/s NVLink5 reads as 25).
//
// Cross-check: after building, the relation of every pair of devices is re-derived from the
// graph (the PCIe path between them; the NVLink count between GPUs) and must equal its cell, and
// the matrix must be symmetric; any contradiction is an error naming the line and the cell.

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <numeric>
#include <optional>
#include <queue>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace gpusched::topology {
namespace {

std::string_view Trim(std::string_view s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  const size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

// A non-negative decimal integer, whole token.
bool ParseInt(std::string_view s, int* out) {
  if (s.empty()) return false;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

// Keep in step with presets.cc.
constexpr double kIntraSocketP2pFactor = 0.8;
constexpr double kInterSocketP2pFactor = 0.5;
constexpr int kMaxNvLinksPerGpu = 18;

enum class Rel { kSelf, kNv, kPix, kPxb, kPhb, kNode, kSys };

struct Cell {
  Rel rel = Rel::kSelf;
  int nv = 0;
  std::string token;
  int line = 0;
};

std::string_view RelName(Rel r) {
  switch (r) {
    case Rel::kSelf:
      return "X";
    case Rel::kNv:
      return "NV";
    case Rel::kPix:
      return "PIX";
    case Rel::kPxb:
      return "PXB";
    case Rel::kPhb:
      return "PHB";
    case Rel::kNode:
      return "NODE";
    case Rel::kSys:
      return "SYS";
  }
  return "?";
}

std::optional<Cell> ParseCell(std::string_view tok) {
  Cell c;
  c.token = std::string(tok);
  if (tok == "X") {
    c.rel = Rel::kSelf;
  } else if (tok == "PIX") {
    c.rel = Rel::kPix;
  } else if (tok == "PXB") {
    c.rel = Rel::kPxb;
  } else if (tok == "PHB") {
    c.rel = Rel::kPhb;
  } else if (tok == "NODE") {
    c.rel = Rel::kNode;
  } else if (tok == "SYS" || tok == "SOC") {
    c.rel = Rel::kSys;
  } else if (tok.starts_with("NV") && tok.size() > 2) {
    int n = 0;
    std::string_view digits = tok.substr(2);
    if (!std::all_of(digits.begin(), digits.end(),
                     [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)); }) ||
        !ParseInt(digits, &n) || n < 1) {
      return std::nullopt;
    }
    c.rel = Rel::kNv;
    c.nv = n;
  } else {
    return std::nullopt;
  }
  return c;
}

std::string StripAnsi(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\x1b') {
      // CSI: ESC [ params final-byte(0x40-0x7e)
      if (i + 1 < s.size() && s[i + 1] == '[') {
        size_t j = i + 2;
        while (j < s.size() && !(s[j] >= 0x40 && s[j] <= 0x7e)) ++j;
        i = j;
      }
      continue;
    }
    if (s[i] == '\r') continue;
    out.push_back(s[i]);
  }
  return out;
}

std::vector<std::string> Words(std::string_view line) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
    if (j > i) out.emplace_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

bool IsGpuName(std::string_view s) {
  if (!s.starts_with("GPU") || s.size() == 3) return false;
  return std::all_of(s.begin() + 3, s.end(),
                     [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)); });
}

class UnionFind {
 public:
  explicit UnionFind(int n) : parent_(n) { std::iota(parent_.begin(), parent_.end(), 0); }
  int Find(int x) {
    while (parent_[x] != x) x = parent_[x] = parent_[parent_[x]];
    return x;
  }
  void Union(int a, int b) {
    a = Find(a);
    b = Find(b);
    if (a != b) parent_[std::max(a, b)] = std::min(a, b);
  }

 private:
  std::vector<int> parent_;
};

enum class Extra { kCpuAffinity, kNumaAffinity, kGpuNumaId };

double X16Gen3() {
  Link l;
  l.kind = LinkKind::kPcie;
  l.generation = 3;
  l.width = 16;
  return DefaultLinkGbps(l);
}

absl::Status LineError(int line, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("line ", line, ": ", std::string(what)));
}

// The PCIe relation of two endpoints re-derived from the built graph: the fewest-hop path over
// PCIe and inter-socket links that does not pass through another endpoint.
std::optional<Rel> DeriveRel(const std::vector<Device>& devices, const std::vector<Link>& links,
                             int from, int to) {
  const int n = static_cast<int>(devices.size());
  std::vector<std::vector<std::pair<int, int>>> adj(n);  // (neighbor, link index)
  for (int i = 0; i < static_cast<int>(links.size()); ++i) {
    if (links[i].kind == LinkKind::kNvLink) continue;
    adj[links[i].a].push_back({links[i].b, i});
    adj[links[i].b].push_back({links[i].a, i});
  }
  std::vector<int> prev_link(n, -1), prev(n, -1);
  std::vector<char> seen(n, 0);
  std::queue<int> q;
  q.push(from);
  seen[from] = 1;
  while (!q.empty()) {
    const int u = q.front();
    q.pop();
    if (u == to) break;
    const DeviceKind k = devices[u].kind;
    if (u != from && (k == DeviceKind::kGpu || k == DeviceKind::kNic)) continue;
    for (auto [v, li] : adj[u]) {
      if (seen[v]) continue;
      seen[v] = 1;
      prev[v] = u;
      prev_link[v] = li;
      q.push(v);
    }
  }
  if (!seen[to]) return std::nullopt;
  int switches = 0;
  bool host_bridge = false, socket = false, inter = false;
  for (int v = to; v != from; v = prev[v]) {
    if (links[prev_link[v]].kind == LinkKind::kInterSocket) inter = true;
    if (v == to) continue;
    switch (devices[v].kind) {
      case DeviceKind::kPcieSwitch:
        ++switches;
        break;
      case DeviceKind::kHostBridge:
        host_bridge = true;
        break;
      case DeviceKind::kCpuSocket:
        socket = true;
        break;
      default:
        break;
    }
  }
  if (inter) return Rel::kSys;
  if (socket) return Rel::kNode;
  if (host_bridge) return Rel::kPhb;
  return switches >= 2 ? Rel::kPxb : Rel::kPix;
}

}  // namespace

absl::StatusOr<GpuTopology> ParseNvidiaSmiTopo(std::string_view text, std::string name) {
  // ---- Lines ----
  std::vector<std::string> lines;
  for (size_t pos = 0; pos <= text.size();) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    lines.push_back(StripAnsi(text.substr(pos, nl - pos)));
    pos = nl + 1;
  }

  size_t i = 0;
  while (i < lines.size() && Trim(lines[i]).empty()) ++i;
  if (i == lines.size()) return absl::InvalidArgumentError("empty nvidia-smi topo output");

  // ---- Header ----
  const int header_line = static_cast<int>(i) + 1;
  std::vector<std::string> columns;  // device columns
  std::vector<Extra> extras;
  {
    const std::vector<std::string> w = Words(lines[i]);
    for (size_t k = 0; k < w.size(); ++k) {
      auto next_is = [&](size_t off, std::string_view s) {
        return k + off < w.size() && w[k + off] == s;
      };
      if (w[k] == "CPU" && next_is(1, "Affinity")) {
        extras.push_back(Extra::kCpuAffinity);
        k += 1;
      } else if (w[k] == "NUMA" && next_is(1, "Affinity")) {
        extras.push_back(Extra::kNumaAffinity);
        k += 1;
      } else if (w[k] == "GPU" && next_is(1, "NUMA") && next_is(2, "ID")) {
        extras.push_back(Extra::kGpuNumaId);
        k += 2;
      } else if (!extras.empty()) {
        return LineError(header_line,
                         absl::StrCat("unknown column \"", w[k], "\" after the affinity columns"));
      } else if (w[k] == "X" || ParseCell(w[k]).has_value() || w[k].back() == ':') {
        return LineError(
            header_line,
            absl::StrCat("expected a header row of device columns, got \"", w[k], "\""));
      } else {
        if (std::find(columns.begin(), columns.end(), w[k]) != columns.end()) {
          return LineError(header_line, absl::StrCat("duplicate column \"", w[k], "\""));
        }
        columns.push_back(w[k]);
      }
    }
  }
  const int m = static_cast<int>(columns.size());
  if (m == 0 || std::none_of(columns.begin(), columns.end(),
                             [](const std::string& c) { return IsGpuName(c); })) {
    return LineError(header_line, "header names no GPU column (GPU0, GPU1, ...)");
  }
  ++i;

  // ---- Rows ----
  std::vector<std::vector<Cell>> cells(m, std::vector<Cell>(m));
  std::vector<int> row_line(m, 0);
  std::vector<int> numa_aff(m, -1);
  std::vector<int> numa_line(m, 0);
  for (; i < lines.size(); ++i) {
    const int ln = static_cast<int>(i) + 1;
    const std::string_view stripped = Trim(lines[i]);
    if (stripped.empty() || stripped.starts_with("Legend") || stripped.starts_with("NIC Legend")) {
      break;
    }
    const std::vector<std::string> w = Words(lines[i]);
    const auto col = std::find(columns.begin(), columns.end(), w[0]);
    if (col == columns.end()) {
      return LineError(ln, absl::StrCat("row \"", w[0], "\" is not a header column"));
    }
    const int r = static_cast<int>(col - columns.begin());
    if (row_line[r] != 0) {
      return LineError(
          ln, absl::StrCat("second row for \"", w[0], "\" (first at line ", row_line[r], ")"));
    }
    row_line[r] = ln;
    const int got = static_cast<int>(w.size()) - 1;
    if (got < m) {
      return LineError(ln, absl::StrCat("row \"", w[0], "\" has ", got, " cells, expected ", m));
    }
    if (got > m + static_cast<int>(extras.size())) {
      return LineError(ln, absl::StrCat("unexpected token \"", w[m + 1 + extras.size()],
                                        "\" after the last column"));
    }
    for (int c = 0; c < m; ++c) {
      std::optional<Cell> cell = ParseCell(w[1 + c]);
      if (!cell.has_value()) {
        return LineError(ln,
                         absl::StrCat("unknown cell \"", w[1 + c], "\" (column ", columns[c], ")"));
      }
      cell->line = ln;
      if ((c == r) != (cell->rel == Rel::kSelf)) {
        return LineError(
            ln, absl::StrCat("cell \"", w[1 + c], "\" (column ", columns[c], ") ",
                             c == r ? "should be X on the diagonal" : "X off the diagonal"));
      }
      if (cell->rel == Rel::kNv && (!IsGpuName(columns[r]) || !IsGpuName(columns[c]))) {
        return LineError(ln, absl::StrCat("cell \"", w[1 + c], "\" (column ", columns[c],
                                          "): NVLink between non-GPU devices"));
      }
      cells[r][c] = *cell;
    }
    for (int e = 0; e < got - m; ++e) {
      if (extras[e] != Extra::kNumaAffinity) continue;
      const std::string& tok = w[1 + m + e];
      int v = -1;
      if (tok == "N/A") continue;
      if (ParseInt(tok, &v) && v >= 0) {
        numa_aff[r] = v;
        numa_line[r] = ln;
      } else if (tok.find_first_not_of("0123456789,-") == std::string::npos) {
        continue;  // a set of nodes ("0-1"): no single node, treated as unknown
      } else {
        return LineError(ln, absl::StrCat("bad NUMA Affinity \"", tok, "\" (row ", w[0], ")"));
      }
    }
  }
  for (int r = 0; r < m; ++r) {
    if (row_line[r] == 0) {
      return LineError(header_line, absl::StrCat("no row for column \"", columns[r], "\""));
    }
  }
  for (int r = 0; r < m; ++r) {
    for (int c = r + 1; c < m; ++c) {
      if (cells[r][c].token != cells[c][r].token) {
        const Cell& later = row_line[r] > row_line[c] ? cells[r][c] : cells[c][r];
        const Cell& earlier = row_line[r] > row_line[c] ? cells[c][r] : cells[r][c];
        const int later_col = row_line[r] > row_line[c] ? c : r;
        return LineError(later.line, absl::StrCat("cell \"", later.token, "\" (column ",
                                                  columns[later_col], ") differs from \"",
                                                  earlier.token, "\" at line ", earlier.line));
      }
    }
  }

  // ---- Legend blocks: accept anything; pick up NIC names. ----
  std::vector<std::string> names = columns;
  for (; i < lines.size(); ++i) {
    const std::string_view s = Trim(lines[i]);
    const size_t colon = s.find(':');
    if (colon == std::string_view::npos || colon + 1 >= s.size()) continue;
    const std::string key(Trim(s.substr(0, colon)));
    const std::string value(Trim(s.substr(colon + 1)));
    const auto col = std::find(columns.begin(), columns.end(), key);
    if (col == columns.end() || IsGpuName(key) || value.empty() ||
        value.find_first_of(" \t=") != std::string::npos) {
      continue;
    }
    names[col - columns.begin()] = value;
  }

  // ---- NUMA nodes ----
  UnionFind same_node(m);
  for (int r = 0; r < m; ++r) {
    for (int c = r + 1; c < m; ++c) {
      const Rel rel = cells[r][c].rel;
      if (rel == Rel::kPix || rel == Rel::kPxb || rel == Rel::kPhb || rel == Rel::kNode) {
        same_node.Union(r, c);
      }
    }
  }
  {
    std::map<int, int> first_with_value;
    for (int r = 0; r < m; ++r) {
      if (numa_aff[r] < 0) continue;
      auto [it, inserted] = first_with_value.try_emplace(numa_aff[r], r);
      if (!inserted) same_node.Union(it->second, r);
    }
  }
  std::map<int, int> component_numa;  // root -> NUMA value
  for (int r = 0; r < m; ++r) {
    if (numa_aff[r] < 0) continue;
    const int root = same_node.Find(r);
    auto [it, inserted] = component_numa.try_emplace(root, numa_aff[r]);
    if (!inserted && it->second != numa_aff[r]) {
      return LineError(numa_line[r],
                       absl::StrCat("NUMA Affinity \"", numa_aff[r], "\" of ", columns[r],
                                    " contradicts the cells, which place it on NUMA node ",
                                    it->second, " with other devices"));
    }
  }
  // Node groups: value -> members; then unvalued components.
  std::map<int, std::vector<int>> node_members;
  std::vector<int> node_of(m, -1);
  for (int r = 0; r < m; ++r) {
    auto it = component_numa.find(same_node.Find(r));
    if (it != component_numa.end()) {
      node_members[it->second].push_back(r);
      node_of[r] = it->second;
    }
  }
  std::vector<int> node_order;  // creation order
  for (const auto& [v, members] : node_members) node_order.push_back(v);
  for (int r = 0; r < m; ++r) {
    if (node_of[r] >= 0) continue;
    const int root = same_node.Find(r);
    std::vector<int> comp;
    for (int x = r; x < m; ++x) {
      if (same_node.Find(x) == root) comp.push_back(x);
    }
    int chosen = -1;
    for (int v : node_order) {
      bool conflict = false;
      for (int a : comp) {
        for (int b : node_members[v]) conflict = conflict || cells[a][b].rel == Rel::kSys;
      }
      if (!conflict) {
        chosen = v;
        break;
      }
    }
    if (chosen < 0) {
      chosen = 0;
      while (node_members.count(chosen)) ++chosen;
      node_order.push_back(chosen);
    }
    for (int a : comp) {
      node_members[chosen].push_back(a);
      node_of[a] = chosen;
    }
  }

  // ---- Devices: endpoints first (GPU numbering = column order of GPU columns). ----
  std::vector<Device> devices;
  std::vector<Link> links;
  for (int r = 0; r < m; ++r) {
    devices.push_back(
        Device{IsGpuName(columns[r]) ? DeviceKind::kGpu : DeviceKind::kNic, names[r], node_of[r]});
  }
  auto add = [&](DeviceKind kind, std::string dev_name, int numa) {
    devices.push_back(Device{kind, std::move(dev_name), numa});
    return static_cast<int>(devices.size()) - 1;
  };
  auto pcie = [&](int a, int b) {
    Link l;
    l.a = a;
    l.b = b;
    l.kind = LinkKind::kPcie;
    links.push_back(l);
  };
  const double x16 = X16Gen3();
  std::map<int, int> socket_dev;
  for (const auto& [v, members] : node_members) {
    socket_dev[v] = add(DeviceKind::kCpuSocket, absl::StrCat("CPU", v), v);
  }
  for (auto a = socket_dev.begin(); a != socket_dev.end(); ++a) {
    for (auto b = std::next(a); b != socket_dev.end(); ++b) {
      Link l;
      l.a = a->second;
      l.b = b->second;
      l.kind = LinkKind::kInterSocket;
      l.gbps = kInterSocketP2pFactor * x16;
      links.push_back(l);
    }
  }
  int host_bridges = 0, switches = 0;
  for (const auto& [v, members] : node_members) {
    // Partition by relation strength inside the node.
    UnionFind hb(m), pxb(m), pix(m);
    for (int a : members) {
      for (int b : members) {
        const Rel rel = cells[a][b].rel;
        if (rel == Rel::kPix) pix.Union(a, b);
        if (rel == Rel::kPix || rel == Rel::kPxb) pxb.Union(a, b);
        if (rel == Rel::kPix || rel == Rel::kPxb || rel == Rel::kPhb) hb.Union(a, b);
      }
    }
    std::set<int> hb_roots;
    for (int a : members) hb_roots.insert(hb.Find(a));
    for (int h : hb_roots) {
      const int hb_dev = add(DeviceKind::kHostBridge, absl::StrCat("HB", host_bridges++), v);
      Link up;
      up.a = hb_dev;
      up.b = socket_dev[v];
      up.kind = LinkKind::kPcie;
      up.gbps = kIntraSocketP2pFactor * x16;
      links.push_back(up);
      std::set<int> pxb_roots;
      for (int a : members) {
        if (hb.Find(a) == h) pxb_roots.insert(pxb.Find(a));
      }
      for (int p : pxb_roots) {
        std::map<int, std::vector<int>> pix_groups;
        for (int a : members) {
          if (pxb.Find(a) == p) pix_groups[pix.Find(a)].push_back(a);
        }
        int parent = hb_dev;
        const bool chain = pix_groups.size() >= 2;
        if (chain) {
          parent = add(DeviceKind::kPcieSwitch, absl::StrCat("PLX", switches++), v);
          pcie(parent, hb_dev);
        }
        for (const auto& [root, group] : pix_groups) {
          int attach = parent;
          if (chain || group.size() >= 2) {
            attach = add(DeviceKind::kPcieSwitch, absl::StrCat("PLX", switches++), v);
            pcie(attach, parent);
          }
          for (int a : group) pcie(a, attach);
        }
      }
    }
  }

  // ---- NVLink ----
  {
    UnionFind nv(m);
    for (int r = 0; r < m; ++r) {
      for (int c = r + 1; c < m; ++c) {
        if (cells[r][c].rel == Rel::kNv) nv.Union(r, c);
      }
    }
    std::map<int, std::vector<int>> groups;
    for (int r = 0; r < m; ++r) groups[nv.Find(r)].push_back(r);
    for (const auto& [root, g] : groups) {
      if (g.size() < 2) continue;
      const int n = static_cast<int>(g.size());
      bool uniform = true;
      const int c0 = cells[g[0]][g[1]].nv;
      for (int a : g) {
        for (int b : g) {
          if (a != b && (cells[a][b].rel != Rel::kNv || cells[a][b].nv != c0)) uniform = false;
        }
      }
      if (uniform && c0 * (n - 1) > kMaxNvLinksPerGpu) {
        const int sw = add(DeviceKind::kNvSwitch, "NVSwitch", -1);
        for (int a : g) {
          Link l;
          l.a = a;
          l.b = sw;
          l.kind = LinkKind::kNvLink;
          l.count = c0;
          links.push_back(l);
        }
        continue;
      }
      for (int a : g) {
        for (int b : g) {
          if (a < b && cells[a][b].rel == Rel::kNv) {
            Link l;
            l.a = a;
            l.b = b;
            l.kind = LinkKind::kNvLink;
            l.count = cells[a][b].nv;
            links.push_back(l);
          }
        }
      }
    }
  }

  // ---- Cross-check the PCIe structure against every cell ----
  for (int r = 0; r < m; ++r) {
    for (int c = r + 1; c < m; ++c) {
      const Cell& cell = row_line[r] > row_line[c] ? cells[r][c] : cells[c][r];
      const std::string& column = row_line[r] > row_line[c] ? columns[c] : columns[r];
      if (cell.rel == Rel::kNv) continue;
      const std::optional<Rel> derived = DeriveRel(devices, links, r, c);
      // Before NODE existed, PHB also covered different host bridges of one node.
      const bool ok = derived.has_value() &&
                      (*derived == cell.rel || (cell.rel == Rel::kPhb && *derived == Rel::kNode));
      if (!ok) {
        return LineError(cell.line,
                         absl::StrCat("cell \"", cell.token, "\" (column ", column,
                                      ") contradicts the other cells, which imply ",
                                      derived.has_value() ? std::string(RelName(*derived))
                                                          : std::string("no PCIe path")));
      }
    }
  }

  std::vector<int> gpu_cols;
  for (int r = 0; r < m; ++r) {
    if (devices[r].kind == DeviceKind::kGpu) gpu_cols.push_back(r);
  }
  absl::StatusOr<GpuTopology> t =
      GpuTopology::Create(std::move(name), std::move(devices), std::move(links));
  if (!t.ok()) return t.status();
  for (size_t a = 0; a < gpu_cols.size(); ++a) {
    for (size_t b = a + 1; b < gpu_cols.size(); ++b) {
      const Cell& cell = cells[gpu_cols[a]][gpu_cols[b]];
      const int want = cell.rel == Rel::kNv ? cell.nv : 0;
      const int got = t->NvLinks(static_cast<int>(a), static_cast<int>(b));
      if (got != want) {
        return LineError(cell.line,
                         absl::StrCat("cell \"", cell.token, "\" (column ", columns[gpu_cols[b]],
                                      ") became ", got, " NVLinks in the graph"));
      }
    }
  }
  return t;
}

}  // namespace gpusched::topology

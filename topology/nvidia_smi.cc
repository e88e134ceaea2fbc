#include "topology/nvidia_smi.h"
#include "topology/p2p_factors.h"

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
// Validation (errors name the line, and the column or row): the text must be text (a control
// byte or DEL is "line N is not text (byte \x7f at column 1)"; a UTF-8 BOM at the start is
// skipped); at most kMaxGpus GPU columns and as many NIC columns; NV# at most NV18 (the most links
// a GPU has); a GPU whose NV# cells add up to more than 18 links must be on an NVSwitch (all its
// peers at one NV count, the switch rule above); CPU Affinity a CPU list ("0-19,40-59", ids below
// 65536) or N/A; NUMA Affinity and GPU NUMA ID a node 0..1023 or N/A. Warnings (usable, odd):
// a NUMA Affinity naming several nodes ("0-1", treated as unknown).
//
// Cost: m device columns, text of size S: O(S + m^2 * p) time, p the length of a PCIe path
// (<= 6), and O(m^2) memory, then GpuTopology::Create (see gpu_topology.h). The cross-check runs
// one BFS per device column over the PCIe tree, not one per pair. 1,000 GPUs: well under a second.
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

// A non-negative decimal integer, whole token, digits only.
bool ParseInt(std::string_view s, int* out) {
  if (s.empty() || !std::all_of(s.begin(), s.end(), [](char ch) {
        return std::isdigit(static_cast<unsigned char>(ch));
      })) {
    return false;
  }
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

constexpr int kMaxNvLinksPerGpuAny = 18;  // the most NVLinks any GPU has (Hopper, Blackwell)
constexpr int kMaxNics = kMaxGpus;
constexpr int kMaxCpus = 65536;
constexpr int kMaxNumaNodes = 256;  // sockets a parsed matrix may imply

enum class Rel : uint8_t { kSelf, kNv, kPix, kPxb, kPhb, kNode, kSys };

struct Cell {
  Rel rel = Rel::kSelf;
  bool soc = false;  // printed as SOC (the old SYS)
  int nv = 0;
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

std::string Token(const Cell& c) {
  if (c.rel == Rel::kNv) return absl::StrCat("NV", c.nv);
  if (c.soc) return "SOC";
  return std::string(RelName(c.rel));
}

std::optional<Cell> ParseCell(std::string_view tok) {
  Cell c;
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
    c.soc = tok == "SOC";
  } else if (tok.starts_with("NV") && tok.size() > 2) {
    int n = 0;
    if (!ParseInt(tok.substr(2), &n) || n < 1) return std::nullopt;
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

std::vector<std::string_view> Words(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
    if (j > i) out.push_back(line.substr(i, j - i));
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

absl::Status LineError(int line, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("line ", line, ": ", what));
}

std::string Quoted(std::string_view s) { return absl::StrCat("\"", Printable(s), "\""); }

// ---- The matrix as read from the text ----

struct Matrix {
  int header_line = 0;
  std::vector<std::string> columns;  // device columns, header order
  std::map<std::string, int, std::less<>> column_index;
  std::vector<Extra> extras;
  int m = 0;
  std::vector<Cell> cells;  // m x m, row-major: cells[r * m + c] is row r, column c
  std::vector<int> row_line;
  std::vector<int> numa_aff;  // -1 unknown
  std::vector<int> numa_line;
  std::vector<std::string> names;  // device names (NIC legend applied)

  Cell& at(int r, int c) { return cells[static_cast<size_t>(r) * m + c]; }
  const Cell& at(int r, int c) const { return cells[static_cast<size_t>(r) * m + c]; }
  bool is_gpu(int r) const { return IsGpuName(columns[r]); }
  // The cell of a pair from the row printed later (what the error names), and its column.
  int later_row(int r, int c) const { return row_line[r] > row_line[c] ? r : c; }
};

// Lines of the text with ANSI escapes and CRs removed; a UTF-8 BOM at the start skipped. Rejects
// control bytes (other than tab, CR, ESC) and DEL: binary input is "not text", never echoed.
absl::StatusOr<std::vector<std::string>> SplitLines(std::string_view text) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  std::vector<std::string> lines;
  int ln = 0;
  for (size_t pos = 0; pos <= text.size();) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    const std::string_view raw = text.substr(pos, nl - pos);
    ++ln;
    for (size_t k = 0; k < raw.size(); ++k) {
      const unsigned char ch = static_cast<unsigned char>(raw[k]);
      if ((ch < 0x20 && ch != '\t' && ch != '\r' && ch != 0x1b) || ch == 0x7f) {
        return LineError(ln, absl::StrCat("not text (byte ", Printable(raw.substr(k, 1)),
                                          " at column ", k + 1, "): ",
                                          Quoted(raw.substr(0, 16))));
      }
    }
    lines.push_back(StripAnsi(raw));
    pos = nl + 1;
  }
  return lines;
}

// The header row at lines[i]: device columns, then the affinity columns.
absl::Status ParseHeader(const std::vector<std::string>& lines, size_t i, Matrix& mx) {
  mx.header_line = static_cast<int>(i) + 1;
  const std::vector<std::string_view> w = Words(lines[i]);
  int gpus = 0, nics = 0;
  for (size_t k = 0; k < w.size(); ++k) {
    auto next_is = [&](size_t off, std::string_view s) {
      return k + off < w.size() && w[k + off] == s;
    };
    if (w[k] == "CPU" && next_is(1, "Affinity")) {
      mx.extras.push_back(Extra::kCpuAffinity);
      k += 1;
    } else if (w[k] == "NUMA" && next_is(1, "Affinity")) {
      mx.extras.push_back(Extra::kNumaAffinity);
      k += 1;
    } else if (w[k] == "GPU" && next_is(1, "NUMA") && next_is(2, "ID")) {
      mx.extras.push_back(Extra::kGpuNumaId);
      k += 2;
    } else if (!mx.extras.empty()) {
      return LineError(mx.header_line,
                       absl::StrCat("unknown column ", Quoted(w[k]), " after the affinity columns"));
    } else if (ParseCell(w[k]).has_value() || w[k].back() == ':') {
      return LineError(mx.header_line, absl::StrCat("expected a header row of device columns, got ",
                                                    Quoted(w[k])));
    } else {
      const bool gpu = IsGpuName(w[k]);
      if (gpu && ++gpus > kMaxGpus) {
        return LineError(mx.header_line, absl::StrCat("more than ", kMaxGpus,
                                                      " GPU columns, more than the limit of ",
                                                      kMaxGpus));
      }
      if (!gpu && ++nics > kMaxNics) {
        return LineError(mx.header_line,
                         absl::StrCat("more than ", kMaxNics, " NIC columns (the limit)"));
      }
      auto [it, inserted] =
          mx.column_index.try_emplace(std::string(w[k]), static_cast<int>(mx.columns.size()));
      if (!inserted) {
        return LineError(mx.header_line, absl::StrCat("duplicate column ", Quoted(w[k])));
      }
      mx.columns.emplace_back(w[k]);
    }
  }
  mx.m = static_cast<int>(mx.columns.size());
  if (gpus == 0) return LineError(mx.header_line, "header names no GPU column (GPU0, GPU1, ...)");
  return absl::OkStatus();
}

// A CPU list: "0-19,40-59", ids below kMaxCpus, ranges ascending. Empty string when fine.
std::string CpuListProblem(std::string_view tok, int limit) {
  size_t pos = 0;
  while (pos <= tok.size()) {
    size_t comma = tok.find(',', pos);
    if (comma == std::string_view::npos) comma = tok.size();
    const std::string_view item = tok.substr(pos, comma - pos);
    const size_t dash = item.find('-');
    int lo = 0, hi = 0;
    if (dash == std::string_view::npos) {
      if (!ParseInt(item, &lo)) return absl::StrCat("\"", Printable(item), "\" is not a number");
      hi = lo;
    } else if (!ParseInt(item.substr(0, dash), &lo) || !ParseInt(item.substr(dash + 1), &hi)) {
      return absl::StrCat("\"", Printable(item), "\" is not a range a-b");
    }
    if (hi < lo) return absl::StrCat("range ", lo, "-", hi, " is descending");
    if (hi >= limit) return absl::StrCat(hi, " is out of range 0..", limit - 1);
    pos = comma + 1;
  }
  return "";
}

// One affinity cell of row r.
absl::Status ParseExtraCell(Matrix& mx, int r, int ln, Extra kind, std::string_view tok,
                            std::vector<std::string>* warnings) {
  const std::string row = Printable(mx.columns[r]);
  if (tok == "N/A") return absl::OkStatus();
  switch (kind) {
    case Extra::kCpuAffinity:
      if (std::string p = CpuListProblem(tok, kMaxCpus); !p.empty()) {
        return LineError(ln, absl::StrCat("bad CPU Affinity ", Quoted(tok), " (row ", row, "): ", p));
      }
      return absl::OkStatus();
    case Extra::kGpuNumaId:
    case Extra::kNumaAffinity: {
      const char* what = kind == Extra::kGpuNumaId ? "GPU NUMA ID" : "NUMA Affinity";
      int v = -1;
      if (ParseInt(tok, &v)) {
        if (v >= kMaxNuma) {
          return LineError(ln, absl::StrCat(what, " ", v, " (row ", row, ") out of range 0..",
                                            kMaxNuma - 1));
        }
        if (kind == Extra::kNumaAffinity) {
          mx.numa_aff[r] = v;
          mx.numa_line[r] = ln;
        }
        return absl::OkStatus();
      }
      if (tok.starts_with("-") && tok.size() > 1 && ParseInt(tok.substr(1), &v)) {
        return LineError(ln, absl::StrCat(what, " ", Quoted(tok), " (row ", row, ") is negative"));
      }
      if (kind == Extra::kNumaAffinity && CpuListProblem(tok, kMaxNuma).empty()) {
        if (warnings != nullptr) {
          warnings->push_back(absl::StrCat("line ", ln, ": NUMA Affinity ", Quoted(tok), " of ", row,
                                           " names several nodes; treated as unknown"));
        }
        return absl::OkStatus();
      }
      return LineError(ln, absl::StrCat("bad ", what, " ", Quoted(tok), " (row ", row, ")"));
    }
  }
  return absl::OkStatus();
}

// One row: its name, m cells, then up to one token per affinity column.
absl::Status ParseRow(Matrix& mx, std::string_view line, int ln,
                      std::vector<std::string>* warnings) {
  const std::vector<std::string_view> w = Words(line);
  const auto col = mx.column_index.find(w[0]);
  if (col == mx.column_index.end()) {
    return LineError(ln, absl::StrCat("row ", Quoted(w[0]), " is not a header column"));
  }
  const int r = col->second;
  const int m = mx.m;
  if (mx.row_line[r] != 0) {
    return LineError(ln, absl::StrCat("second row for ", Quoted(w[0]), " (first at line ",
                                      mx.row_line[r], ")"));
  }
  mx.row_line[r] = ln;
  const int got = static_cast<int>(w.size()) - 1;
  if (got < m) {
    return LineError(ln, absl::StrCat("row ", Quoted(w[0]), " has ", got, " cells, expected ", m));
  }
  if (got > m + static_cast<int>(mx.extras.size())) {
    return LineError(ln, absl::StrCat("unexpected token ", Quoted(w[m + 1 + mx.extras.size()]),
                                      " after the last column"));
  }
  for (int c = 0; c < m; ++c) {
    const std::string_view tok = w[1 + c];
    const std::string where = absl::StrCat(" (column ", Printable(mx.columns[c]), ")");
    std::optional<Cell> cell = ParseCell(tok);
    if (!cell.has_value()) {
      return LineError(ln, absl::StrCat("unknown cell ", Quoted(tok), where));
    }
    if ((c == r) != (cell->rel == Rel::kSelf)) {
      return LineError(ln, absl::StrCat("cell ", Quoted(tok), where, " ",
                                        c == r ? "should be X on the diagonal"
                                               : "X off the diagonal"));
    }
    if (cell->rel == Rel::kNv) {
      if (!mx.is_gpu(r) || !mx.is_gpu(c)) {
        return LineError(ln, absl::StrCat("cell ", Quoted(tok), where,
                                          ": NVLink between non-GPU devices"));
      }
      if (cell->nv > kMaxNvLinksPerPair) {
        return LineError(ln, absl::StrCat("cell ", Quoted(tok), where, ": more than ",
                                          kMaxNvLinksPerPair,
                                          " NVLinks between two GPUs (NV18 at most)"));
      }
    }
    mx.at(r, c) = *cell;
  }
  for (int e = 0; e < got - m; ++e) {
    if (absl::Status s = ParseExtraCell(mx, r, ln, mx.extras[e], w[1 + m + e], warnings); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

// Rows from lines[i] up to a blank line or a legend; then every column must have its row and the
// matrix must be symmetric.
absl::Status ParseRows(const std::vector<std::string>& lines, size_t& i, Matrix& mx,
                       std::vector<std::string>* warnings) {
  const int m = mx.m;
  mx.cells.assign(static_cast<size_t>(m) * m, Cell{});
  mx.row_line.assign(m, 0);
  mx.numa_aff.assign(m, -1);
  mx.numa_line.assign(m, 0);
  for (; i < lines.size(); ++i) {
    const std::string_view stripped = Trim(lines[i]);
    if (stripped.empty() || stripped.starts_with("Legend") || stripped.starts_with("NIC Legend")) {
      break;
    }
    if (absl::Status s = ParseRow(mx, lines[i], static_cast<int>(i) + 1, warnings); !s.ok()) {
      return s;
    }
  }
  for (int r = 0; r < m; ++r) {
    if (mx.row_line[r] == 0) {
      return LineError(mx.header_line,
                       absl::StrCat("no row for column ", Quoted(mx.columns[r])));
    }
  }
  for (int r = 0; r < m; ++r) {
    for (int c = r + 1; c < m; ++c) {
      const Cell& a = mx.at(r, c);
      const Cell& b = mx.at(c, r);
      if (a.rel == b.rel && a.nv == b.nv && a.soc == b.soc) continue;
      const int later = mx.later_row(r, c);
      const int earlier = later == r ? c : r;
      return LineError(mx.row_line[later],
                       absl::StrCat("cell \"", Token(mx.at(later, earlier)), "\" (column ",
                                    Printable(mx.columns[earlier]), ") differs from \"",
                                    Token(mx.at(earlier, later)), "\" at line ",
                                    mx.row_line[earlier]));
    }
  }
  return absl::OkStatus();
}

// Legend blocks: anything goes; "NIC<n>: <name>" lines rename NIC columns (printable names only).
void ParseLegend(const std::vector<std::string>& lines, size_t i, Matrix& mx) {
  mx.names = mx.columns;
  for (; i < lines.size(); ++i) {
    const std::string_view s = Trim(lines[i]);
    const size_t colon = s.find(':');
    if (colon == std::string_view::npos || colon + 1 >= s.size()) continue;
    const std::string_view key = Trim(s.substr(0, colon));
    const std::string_view value = Trim(s.substr(colon + 1));
    const auto col = mx.column_index.find(key);
    if (col == mx.column_index.end() || IsGpuName(key) || value.empty() ||
        value.find_first_of(" \t=") != std::string_view::npos ||
        Printable(value, value.size()) != value) {
      continue;
    }
    mx.names[col->second] = std::string(value);
  }
}

// ---- Building ----

struct NumaPlan {
  std::map<int, std::vector<int>> members;  // NUMA value -> device columns
  std::vector<int> node_of;                 // per column
};

// Which NUMA node each device column sits on (see the top of the file).
absl::StatusOr<NumaPlan> PlaceNumaNodes(const Matrix& mx) {
  const int m = mx.m;
  UnionFind same_node(m);
  for (int r = 0; r < m; ++r) {
    for (int c = r + 1; c < m; ++c) {
      const Rel rel = mx.at(r, c).rel;
      if (rel == Rel::kPix || rel == Rel::kPxb || rel == Rel::kPhb || rel == Rel::kNode) {
        same_node.Union(r, c);
      }
    }
  }
  {
    std::map<int, int> first_with_value;
    for (int r = 0; r < m; ++r) {
      if (mx.numa_aff[r] < 0) continue;
      auto [it, inserted] = first_with_value.try_emplace(mx.numa_aff[r], r);
      if (!inserted) same_node.Union(it->second, r);
    }
  }
  std::map<int, int> component_numa;  // root -> NUMA value
  for (int r = 0; r < m; ++r) {
    if (mx.numa_aff[r] < 0) continue;
    const int root = same_node.Find(r);
    auto [it, inserted] = component_numa.try_emplace(root, mx.numa_aff[r]);
    if (!inserted && it->second != mx.numa_aff[r]) {
      return LineError(mx.numa_line[r],
                       absl::StrCat("NUMA Affinity \"", mx.numa_aff[r], "\" of ",
                                    Printable(mx.columns[r]),
                                    " contradicts the cells, which place it on NUMA node ",
                                    it->second, " with other devices"));
    }
  }
  NumaPlan plan;
  plan.node_of.assign(m, -1);
  for (int r = 0; r < m; ++r) {
    auto it = component_numa.find(same_node.Find(r));
    if (it != component_numa.end()) {
      plan.members[it->second].push_back(r);
      plan.node_of[r] = it->second;
    }
  }
  std::vector<int> node_order;  // creation order
  for (const auto& [v, members] : plan.members) node_order.push_back(v);
  std::map<int, std::vector<int>> components;  // root -> unplaced members, ascending
  for (int r = 0; r < m; ++r) {
    if (plan.node_of[r] < 0) components[same_node.Find(r)].push_back(r);
  }
  // Unplaced components in order of their first member (the root is the smallest member).
  for (const auto& [root, comp] : components) {
    int chosen = -1;
    for (int v : node_order) {
      bool conflict = false;
      for (int a : comp) {
        for (int b : plan.members[v]) {
          if (mx.at(a, b).rel == Rel::kSys) {
            conflict = true;
            break;
          }
        }
        if (conflict) break;
      }
      if (!conflict) {
        chosen = v;
        break;
      }
    }
    if (chosen < 0) {
      chosen = 0;
      while (plan.members.count(chosen)) ++chosen;
      node_order.push_back(chosen);
    }
    for (int a : comp) {
      plan.members[chosen].push_back(a);
      plan.node_of[a] = chosen;
    }
  }
  if (plan.members.size() > static_cast<size_t>(kMaxNumaNodes)) {
    return LineError(mx.header_line, absl::StrCat("the cells and affinities imply ",
                                                  plan.members.size(),
                                                  " NUMA nodes, more than the limit of ",
                                                  kMaxNumaNodes));
  }
  return plan;
}

struct Built {
  std::vector<Device> devices;  // device columns first, in column order
  std::vector<Link> links;
  int Add(DeviceKind kind, std::string name, int numa) {
    devices.push_back(Device{kind, std::move(name), numa});
    return static_cast<int>(devices.size()) - 1;
  }
  void Pcie(int a, int b, double gbps = 0) {
    Link l;
    l.a = a;
    l.b = b;
    l.kind = LinkKind::kPcie;
    l.gbps = gbps;
    links.push_back(l);
  }
};

// Sockets, host bridges and PCIe switches from the NUMA plan and the PIX/PXB/PHB cells.
void BuildPcie(const Matrix& mx, const NumaPlan& plan, Built& out) {
  const int m = mx.m;
  const double x16 = X16Gen3();
  std::map<int, int> socket_dev;
  for (const auto& [v, members] : plan.members) {
    socket_dev[v] = out.Add(DeviceKind::kCpuSocket, absl::StrCat("CPU", v), v);
  }
  for (auto a = socket_dev.begin(); a != socket_dev.end(); ++a) {
    for (auto b = std::next(a); b != socket_dev.end(); ++b) {
      Link l;
      l.a = a->second;
      l.b = b->second;
      l.kind = LinkKind::kInterSocket;
      l.gbps = kInterSocketP2pFactor * x16;
      out.links.push_back(l);
    }
  }
  int host_bridges = 0, switches = 0;
  UnionFind hb(m), pxb(m), pix(m);  // members of different nodes never meet: one set suffices
  for (const auto& [v, members] : plan.members) {
    for (size_t x = 0; x < members.size(); ++x) {
      for (size_t y = x + 1; y < members.size(); ++y) {
        const int a = members[x], b = members[y];
        const Rel rel = mx.at(a, b).rel;
        if (rel == Rel::kPix) pix.Union(a, b);
        if (rel == Rel::kPix || rel == Rel::kPxb) pxb.Union(a, b);
        if (rel == Rel::kPix || rel == Rel::kPxb || rel == Rel::kPhb) hb.Union(a, b);
      }
    }
  }
  for (const auto& [v, members] : plan.members) {
    // Host bridge root -> PXB root -> PIX root -> devices, all in ascending order.
    std::map<int, std::map<int, std::map<int, std::vector<int>>>> tree;
    for (int a : members) tree[hb.Find(a)][pxb.Find(a)][pix.Find(a)].push_back(a);
    for (const auto& [h, pxbs] : tree) {
      const int hb_dev = out.Add(DeviceKind::kHostBridge, absl::StrCat("HB", host_bridges++), v);
      out.Pcie(hb_dev, socket_dev[v], kIntraSocketP2pFactor * x16);
      for (const auto& [p, pix_groups] : pxbs) {
        int parent = hb_dev;
        const bool chain = pix_groups.size() >= 2;
        if (chain) {
          parent = out.Add(DeviceKind::kPcieSwitch, absl::StrCat("PLX", switches++), v);
          out.Pcie(parent, hb_dev);
        }
        for (const auto& [root, group] : pix_groups) {
          int attach = parent;
          if (chain || group.size() >= 2) {
            attach = out.Add(DeviceKind::kPcieSwitch, absl::StrCat("PLX", switches++), v);
            out.Pcie(attach, parent);
          }
          for (int a : group) out.Pcie(a, attach);
        }
      }
    }
  }
}

// NVLink links from the NV# cells: a uniform group with more links than a GPU has sits on an
// NVSwitch; otherwise direct links, whose per-GPU total must fit a GPU.
absl::Status BuildNvLinks(const Matrix& mx, Built& out) {
  const int m = mx.m;
  UnionFind nv(m);
  for (int r = 0; r < m; ++r) {
    for (int c = r + 1; c < m; ++c) {
      if (mx.at(r, c).rel == Rel::kNv) nv.Union(r, c);
    }
  }
  std::map<int, std::vector<int>> groups;
  for (int r = 0; r < m; ++r) groups[nv.Find(r)].push_back(r);
  for (const auto& [root, g] : groups) {
    if (g.size() < 2) continue;
    const int n = static_cast<int>(g.size());
    bool uniform = true;
    const int c0 = mx.at(g[0], g[1]).nv;
    for (int a : g) {
      for (int b : g) {
        if (a != b && (mx.at(a, b).rel != Rel::kNv || mx.at(a, b).nv != c0)) uniform = false;
      }
      if (!uniform) break;
    }
    if (uniform && static_cast<int64_t>(c0) * (n - 1) > kMaxNvLinksPerGpuAny) {
      const int sw = out.Add(DeviceKind::kNvSwitch, "NVSwitch", -1);
      for (int a : g) {
        Link l;
        l.a = a;
        l.b = sw;
        l.kind = LinkKind::kNvLink;
        l.count = c0;
        out.links.push_back(l);
      }
      continue;
    }
    for (int a : g) {
      int total = 0;
      for (int b : g) {
        if (mx.at(a, b).rel != Rel::kNv) continue;
        total += mx.at(a, b).nv;
        if (a < b) {
          Link l;
          l.a = a;
          l.b = b;
          l.kind = LinkKind::kNvLink;
          l.count = mx.at(a, b).nv;
          out.links.push_back(l);
        }
      }
      if (total > kMaxNvLinksPerGpuAny) {
        return LineError(mx.row_line[a],
                         absl::StrCat("row ", Printable(mx.columns[a]), ": ", total,
                                      " NVLinks in all (its NV# cells), more than the ",
                                      kMaxNvLinksPerGpuAny,
                                      " a GPU has, and its peers are not all at one NV count "
                                      "as GPUs on an NVSwitch are"));
      }
    }
  }
  return absl::OkStatus();
}

// The PCIe relation of `from` to every device column, re-derived from the built graph: one BFS
// over PCIe and inter-socket links that does not pass through another endpoint, then each
// column's path read back. O(V + E + m * path length).
std::vector<std::optional<Rel>> DeriveRels(const Built& b,
                                           const std::vector<std::vector<std::pair<int, int>>>& adj,
                                           int m, int from) {
  const std::vector<Device>& devices = b.devices;
  const int n = static_cast<int>(devices.size());
  std::vector<int> prev_link(n, -1), prev(n, -1);
  std::vector<char> seen(n, 0);
  std::queue<int> q;
  q.push(from);
  seen[from] = 1;
  while (!q.empty()) {
    const int u = q.front();
    q.pop();
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
  std::vector<std::optional<Rel>> out(m);
  for (int to = 0; to < m; ++to) {
    if (to == from || !seen[to]) continue;
    int switches = 0;
    bool host_bridge = false, socket = false, inter = false;
    for (int v = to; v != from; v = prev[v]) {
      if (b.links[prev_link[v]].kind == LinkKind::kInterSocket) inter = true;
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
    out[to] = inter ? Rel::kSys
              : socket ? Rel::kNode
              : host_bridge ? Rel::kPhb
              : switches >= 2 ? Rel::kPxb
                              : Rel::kPix;
  }
  return out;
}

// Every non-NV cell must equal the relation the built PCIe tree implies.
absl::Status CrossCheckPcie(const Matrix& mx, const Built& b) {
  const int m = mx.m;
  std::vector<std::vector<std::pair<int, int>>> adj(b.devices.size());  // (neighbor, link index)
  for (int i = 0; i < static_cast<int>(b.links.size()); ++i) {
    if (b.links[i].kind == LinkKind::kNvLink) continue;
    adj[b.links[i].a].push_back({b.links[i].b, i});
    adj[b.links[i].b].push_back({b.links[i].a, i});
  }
  for (int r = 0; r < m; ++r) {
    const std::vector<std::optional<Rel>> derived_from_r = DeriveRels(b, adj, m, r);
    for (int c = r + 1; c < m; ++c) {
      const int later = mx.later_row(r, c);
      const int earlier = later == r ? c : r;
      const Cell& cell = mx.at(later, earlier);
      if (cell.rel == Rel::kNv) continue;
      const std::optional<Rel> derived = derived_from_r[c];
      // Before NODE existed, PHB also covered different host bridges of one node.
      const bool ok = derived.has_value() &&
                      (*derived == cell.rel || (cell.rel == Rel::kPhb && *derived == Rel::kNode));
      if (!ok) {
        return LineError(mx.row_line[later],
                         absl::StrCat("cell \"", Token(cell), "\" (column ",
                                      Printable(mx.columns[earlier]),
                                      ") contradicts the other cells, which imply ",
                                      derived.has_value() ? std::string(RelName(*derived))
                                                          : std::string("no PCIe path")));
      }
    }
  }
  return absl::OkStatus();
}

// The built topology's NVLink counts must equal the NV# cells.
absl::Status CrossCheckNvLinks(const Matrix& mx, const GpuTopology& t) {
  std::vector<int> gpu_cols;
  for (int r = 0; r < mx.m; ++r) {
    if (mx.is_gpu(r)) gpu_cols.push_back(r);
  }
  for (size_t a = 0; a < gpu_cols.size(); ++a) {
    for (size_t b = a + 1; b < gpu_cols.size(); ++b) {
      const int later = mx.later_row(gpu_cols[a], gpu_cols[b]);
      const int earlier = later == gpu_cols[a] ? gpu_cols[b] : gpu_cols[a];
      const Cell& cell = mx.at(later, earlier);
      const int want = cell.rel == Rel::kNv ? cell.nv : 0;
      const int got = t.NvLinks(static_cast<int>(a), static_cast<int>(b));
      if (got != want) {
        return LineError(mx.row_line[later],
                         absl::StrCat("cell \"", Token(cell), "\" (column ",
                                      Printable(mx.columns[earlier]), ") became ", got,
                                      " NVLinks in the graph"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<GpuTopology> ParseNvidiaSmiTopo(std::string_view text, std::string name,
                                               std::vector<std::string>* warnings) {
  absl::StatusOr<std::vector<std::string>> lines_or = SplitLines(text);
  if (!lines_or.ok()) return lines_or.status();
  const std::vector<std::string>& lines = *lines_or;
  size_t i = 0;
  while (i < lines.size() && Trim(lines[i]).empty()) ++i;
  if (i == lines.size()) return absl::InvalidArgumentError("empty nvidia-smi topo output");

  Matrix mx;
  if (absl::Status s = ParseHeader(lines, i, mx); !s.ok()) return s;
  ++i;
  if (absl::Status s = ParseRows(lines, i, mx, warnings); !s.ok()) return s;
  ParseLegend(lines, i, mx);

  absl::StatusOr<NumaPlan> plan = PlaceNumaNodes(mx);
  if (!plan.ok()) return plan.status();
  Built built;
  for (int r = 0; r < mx.m; ++r) {
    built.Add(mx.is_gpu(r) ? DeviceKind::kGpu : DeviceKind::kNic, mx.names[r], plan->node_of[r]);
  }
  BuildPcie(mx, *plan, built);
  if (absl::Status s = BuildNvLinks(mx, built); !s.ok()) return s;
  if (absl::Status s = CrossCheckPcie(mx, built); !s.ok()) return s;

  absl::StatusOr<GpuTopology> t =
      GpuTopology::Create(std::move(name), std::move(built.devices), std::move(built.links));
  if (!t.ok()) return t.status();
  if (absl::Status s = CrossCheckNvLinks(mx, *t); !s.ok()) return s;
  return t;
}

}  // namespace gpusched::topology

#include "topology/gpu_topology.h"

#include "common/printable.h"

#include <atomic>

// How a topology becomes numbers.
//
// The device list and link list are turned into a directed Boost.Graph (one arc each way per
// device pair). Parallel links between the same two devices are bonded: their bandwidths add up
// (two NV1 links = one NV2 path; a GPU with count = 12 NVLinks to a switch = 12 x 25 GB/s).
//
// Bandwidth(a, b), a != b:
//   1. if a and b share direct NVLink links: the sum of their bandwidths (hops 1);
//   2. otherwise the widest path (the path whose narrowest link is widest) from a to b, found with
//      boost::dijkstra_shortest_paths under (max, min) instead of (min, +): distance_compare =
//      std::greater, distance_combine = min, distance_zero = +inf, distance_inf = 0.
//      Endpoint devices (GPUs and NICs) never forward: arcs leaving an endpoint other than the
//      source are filtered out (boost::filtered_graph), so a path may end at a GPU but never
//      passes through one. NVSwitches, PCIe switches, host bridges and sockets forward.
//   3. no such path: bandwidth 0, hops -1.
// Hops(a, b) is the fewest links among the widest paths (a BFS over the arcs at least as wide as
// the bottleneck), so a wider path always wins and hop count only breaks ties.
// NvLinks(a, b) is the number of direct NVLinks; GPUs joined only through NVSwitches (every link
// on the way an NVLink, every device between them a kNvSwitch) get the narrowest link count on
// the best such path, which is what `nvidia-smi topo -m` prints (NV12 on a DGX A100).
// NumaOf(g) is the GPU's own numa when set (>= 0), else the numa of the nearest kCpuSocket (fewest
// hops without passing through another endpoint; ties: lower device index); a socket without a
// numa counts as its ordinal among the sockets. -1 when no socket is reachable.

#include <algorithm>
#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/breadth_first_search.hpp>
#include <boost/graph/dijkstra_shortest_paths.hpp>
#include <boost/graph/filtered_graph.hpp>
#include <boost/graph/visitors.hpp>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace gpusched::topology {
namespace {

using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS, boost::no_property,
                                    boost::property<boost::edge_weight_t, double>>;
using Vertex = boost::graph_traits<Graph>::vertex_descriptor;
using Edge = boost::graph_traits<Graph>::edge_descriptor;

// Keeps an arc when its tail may forward traffic (or is the source) and it is at least
// `min_weight` wide.
struct ArcFilter {
  const Graph* g = nullptr;
  const std::vector<char>* forwards = nullptr;
  Vertex src = 0;
  double min_weight = 0;
  bool operator()(const Edge& e) const {
    const Vertex u = boost::source(e, *g);
    if (u != src && !(*forwards)[u]) return false;
    return boost::get(boost::edge_weight, *g, e) >= min_weight;
  }
};

using Filtered = boost::filtered_graph<Graph, ArcFilter>;

// Widest-path (maximum bottleneck) widths from `src` to every vertex; 0 when unreachable.
std::vector<double> WidestFrom(const Graph& g, const std::vector<char>& forwards, Vertex src) {
  const size_t n = boost::num_vertices(g);
  std::vector<double> width(n, 0.0);
  std::vector<Vertex> pred(n);
  Filtered fg(g, ArcFilter{&g, &forwards, src, 0.0});
  auto index = boost::get(boost::vertex_index, fg);
  boost::dijkstra_shortest_paths(
      fg, src,
      boost::weight_map(boost::get(boost::edge_weight, fg))
          .distance_map(boost::make_iterator_property_map(width.begin(), index))
          .predecessor_map(boost::make_iterator_property_map(pred.begin(), index))
          .distance_compare(std::greater<double>())
          .distance_combine([](double a, double b) { return std::min(a, b); })
          .distance_inf(0.0)
          .distance_zero(std::numeric_limits<double>::infinity()));
  width[src] = 0.0;  // the source itself: no link
  return width;
}

// Fewest hops from `src` over arcs of width >= min_weight; -1 when unreachable.
std::vector<int> HopsFrom(const Graph& g, const std::vector<char>& forwards, Vertex src,
                          double min_weight) {
  const size_t n = boost::num_vertices(g);
  std::vector<int> dist(n, -1);
  Filtered fg(g, ArcFilter{&g, &forwards, src, min_weight});
  auto index = boost::get(boost::vertex_index, fg);
  std::vector<int> raw(n, 0);
  std::vector<boost::default_color_type> color(n);
  boost::breadth_first_search(
      fg, src,
      boost::visitor(
          boost::make_bfs_visitor(boost::record_distances(
              boost::make_iterator_property_map(raw.begin(), index), boost::on_tree_edge())))
          .color_map(boost::make_iterator_property_map(color.begin(), index)));
  for (size_t v = 0; v < n; ++v) {
    if (color[v] != boost::white_color) dist[v] = raw[v];
  }
  return dist;
}

std::string_view KindName(LinkKind k) {
  switch (k) {
    case LinkKind::kNvLink:
      return "nvlink";
    case LinkKind::kPcie:
      return "pcie";
    case LinkKind::kInterSocket:
      return "inter-socket";
  }
  return "?";
}

bool IsEndpoint(DeviceKind k) { return k == DeviceKind::kGpu || k == DeviceKind::kNic; }

std::string DeviceLabel(const std::vector<Device>& devices, int i) {
  return absl::StrCat("device ", i, " (", Printable(devices[i].name), ")");
}

// NVLink between a GPU and a CPU socket: NVLink-C2C (Grace).
bool IsC2c(const std::vector<Device>& devices, const Link& l) {
  const DeviceKind a = devices[l.a].kind, b = devices[l.b].kind;
  return l.kind == LinkKind::kNvLink &&
         ((a == DeviceKind::kGpu && b == DeviceKind::kCpuSocket) ||
          (a == DeviceKind::kCpuSocket && b == DeviceKind::kGpu));
}

// The physical checks of one link whose endpoints are in range and distinct (see the header).
absl::Status CheckLinkPhysics(const std::vector<Device>& devices, const Link& l, size_t i) {
  const auto bad = [&](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat("links[", i, "] (", std::string(KindName(l.kind)), " ",
                                                   DeviceLabel(devices, l.a), " - ",
                                                   DeviceLabel(devices, l.b), "): ", what));
  };
  const DeviceKind ka = devices[l.a].kind, kb = devices[l.b].kind;
  const auto is = [&](DeviceKind x, DeviceKind y) {
    return (ka == x && kb == y) || (ka == y && kb == x);
  };
  switch (l.kind) {
    case LinkKind::kNvLink: {
      const bool c2c = IsC2c(devices, l);
      const bool switches = is(DeviceKind::kNvSwitch, DeviceKind::kNvSwitch);
      if (!is(DeviceKind::kGpu, DeviceKind::kGpu) && !is(DeviceKind::kGpu, DeviceKind::kNvSwitch) &&
          !switches && !c2c) {
        return bad("NVLink joins only GPUs, NVSwitches and (NVLink-C2C) a GPU and a CPU socket");
      }
      if (l.generation < 0 || l.generation > 5) {
        return bad(absl::StrCat("NVLink generation ", l.generation, " does not exist (1-5, 0 unknown)"));
      }
      if (c2c) {
        if (l.gbps > kMaxC2cGbps) {
          return bad(absl::StrFormat("NVLink-C2C at %g GB/s, more than the %g GB/s it has per "
                                     "direction", l.gbps, kMaxC2cGbps));
        }
        break;
      }
      if (!switches && l.count > kMaxNvLinksPerPair) {
        return bad(absl::StrCat(l.count, " NVLinks in one bond, more than a GPU has (",
                                kMaxNvLinksPerPair, ")"));
      }
      if (switches && l.count > 1024) {
        return bad(absl::StrCat(l.count, " NVLinks between two switches, more than 1024"));
      }
      if (l.gbps > kMaxNvLinkGbpsPerLink * l.count * (1 + 1e-9)) {
        return bad(absl::StrFormat("%g GB/s over %d NVLinks, more than %g GB/s per link per "
                                   "direction (NVLink5)", l.gbps, l.count, kMaxNvLinkGbpsPerLink));
      }
      break;
    }
    case LinkKind::kPcie:
      if (l.generation < 0 || l.generation > 6) {
        return bad(absl::StrCat("PCIe generation ", l.generation, " does not exist (1-6, 0 unknown)"));
      }
      if (l.width < 1 || l.width > 32) {
        return bad(absl::StrCat("PCIe width x", l.width, " (1..32 lanes)"));
      }
      if (l.count > 64) return bad(absl::StrCat("count ", l.count, " (at most 64)"));
      if (l.gbps > kMaxPcieGbps * l.count) {
        return bad(absl::StrFormat("%g GB/s, more than %g GB/s per PCIe link", l.gbps,
                                   kMaxPcieGbps));
      }
      break;
    case LinkKind::kInterSocket:
      if (!is(DeviceKind::kCpuSocket, DeviceKind::kCpuSocket)) {
        return bad("an inter-socket link joins two CPU sockets");
      }
      if (l.count > 64) return bad(absl::StrCat("count ", l.count, " (at most 64)"));
      if (l.gbps > kMaxInterSocketGbps * l.count) {
        return bad(absl::StrFormat("%g GB/s, more than %g GB/s per inter-socket link", l.gbps,
                                   kMaxInterSocketGbps));
      }
      break;
  }
  return absl::OkStatus();
}

}  // namespace

std::string Printable(std::string_view s, size_t max) { return EscapeForMessage(s, max); }

int MaxNvLinksPerGpu(int generation) {
  switch (generation) {
    case 0:
      return 18;
    case 1:
      return 4;
    case 2:
      return 6;
    case 3:
      return 12;
    case 4:
    case 5:
      return 18;
    default:
      return 0;
  }
}

double DefaultLinkGbps(const Link& link) {
  if (link.gbps != 0) return link.gbps;
  switch (link.kind) {
    case LinkKind::kNvLink: {
      // Per link, per direction. NVLink1 (P100) 20; NVLink2/3/4 25; NVLink5 50. Unknown (0): 25.
      double per_link = 0;
      switch (link.generation) {
        case 0:
          per_link = 25;
          break;
        case 1:
          per_link = 20;
          break;
        case 2:
        case 3:
        case 4:
          per_link = 25;
          break;
        case 5:
          per_link = 50;
          break;
        default:
          per_link = 0;  // unknown generation: Create rejects the link
      }
      return per_link * link.count;
    }
    case LinkKind::kPcie: {
      // Per lane, per direction, after line coding. Unknown (0): gen3, the conservative guess.
      double per_lane = 0;
      switch (link.generation) {
        case 1:
          per_lane = 0.25;
          break;
        case 2:
          per_lane = 0.5;
          break;
        case 0:
        case 3:
          per_lane = 0.985;
          break;
        case 4:
          per_lane = 1.969;
          break;
        case 5:
          per_lane = 3.938;
          break;
        case 6:
          per_lane = 7.563;
          break;
        default:
          per_lane = 0;
      }
      return per_lane * link.width * link.count;
    }
    case LinkKind::kInterSocket:
      return 40.0 * link.count;
  }
  return 0;
}

absl::StatusOr<GpuTopology> GpuTopology::Create(std::string name, std::vector<Device> devices,
                                                std::vector<Link> links) {
  if (devices.size() > static_cast<size_t>(kMaxDevices)) {
    return absl::InvalidArgumentError(absl::StrCat("topology \"", Printable(name), "\": ",
                                                   devices.size(), " devices, more than the limit of ",
                                                   kMaxDevices));
  }
  if (links.size() > static_cast<size_t>(kMaxLinks)) {
    return absl::InvalidArgumentError(absl::StrCat("topology \"", Printable(name), "\": ",
                                                   links.size(), " links, more than the limit of ",
                                                   kMaxLinks));
  }
  const int n = static_cast<int>(devices.size());
  std::vector<int> gpu_of_device(n, -1);
  std::vector<int> gpu_devices;
  for (int i = 0; i < n; ++i) {
    if (devices[i].numa < -1 || devices[i].numa >= kMaxNuma) {
      return absl::InvalidArgumentError(absl::StrCat(
          "devices[", i, "]: numa ", devices[i].numa, " out of range -1..", kMaxNuma - 1, " (",
          Printable(devices[i].name), ")"));
    }
    if (devices[i].kind == DeviceKind::kGpu) {
      gpu_of_device[i] = static_cast<int>(gpu_devices.size());
      gpu_devices.push_back(i);
    }
  }
  if (gpu_devices.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("topology \"", Printable(name), "\": no GPU among ", n, " devices"));
  }
  if (gpu_devices.size() > static_cast<size_t>(kMaxGpus)) {
    return absl::InvalidArgumentError(absl::StrCat("topology \"", Printable(name), "\": ",
                                                   gpu_devices.size(),
                                                   " GPUs, more than the limit of ", kMaxGpus));
  }

  // Validate links and bond parallel ones: (lo, hi) -> total GB/s, and NVLink-only totals.
  std::map<std::pair<int, int>, double> bonded;
  std::map<std::pair<int, int>, double> nv_gbps;
  std::map<std::pair<int, int>, int> nv_count;
  for (size_t i = 0; i < links.size(); ++i) {
    Link& l = links[i];
    if (l.a < 0 || l.a >= n) {
      return absl::InvalidArgumentError(
          absl::StrCat("links[", i, "]: device ", l.a, " out of range [0, ", n, ")"));
    }
    if (l.b < 0 || l.b >= n) {
      return absl::InvalidArgumentError(
          absl::StrCat("links[", i, "]: device ", l.b, " out of range [0, ", n, ")"));
    }
    if (l.a == l.b) {
      return absl::InvalidArgumentError(
          absl::StrCat("links[", i, "]: self link on ", DeviceLabel(devices, l.a)));
    }
    if (l.count < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("links[", i, "]: count ", l.count, " must be >= 1"));
    }
    if (l.kind == LinkKind::kPcie && l.gbps == 0 && l.width < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("links[", i, "]: PCIe width ", l.width, " must be >= 1"));
    }
    const double gbps = DefaultLinkGbps(l);
    if (!(gbps > 0) || !std::isfinite(gbps)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "links[%d]: non-positive bandwidth %g GB/s (%s generation %d count %d width %d)",
          static_cast<int>(i), gbps, std::string(KindName(l.kind)), l.generation, l.count,
          l.width));
    }
    l.gbps = gbps;  // stored derived, so links() shows what was used
    if (absl::Status s = CheckLinkPhysics(devices, l, i); !s.ok()) return s;
    const std::pair<int, int> key = std::minmax(l.a, l.b);
    bonded[key] += gbps;
    if (l.kind == LinkKind::kNvLink) {
      nv_gbps[key] += gbps;
      nv_count[key] += l.count;
    }
  }

  // Per GPU: NVLinks to GPUs and switches within the generation's count; some link at all.
  {
    std::vector<int> nv_total(n, 0), nv_gen(n, 0), any_link(n, 0);
    for (const Link& l : links) {
      any_link[l.a] = any_link[l.b] = 1;
      if (l.kind != LinkKind::kNvLink || IsC2c(devices, l)) continue;
      for (int end : {l.a, l.b}) {
        nv_total[end] += l.count;
        nv_gen[end] = std::max(nv_gen[end], l.generation);
      }
    }
    for (int d : gpu_devices) {
      if (gpu_devices.size() > 1 && !any_link[d]) {
        return absl::InvalidArgumentError(absl::StrCat(
            "devices[", d, "] (", Printable(devices[d].name),
            "): a GPU with no links at all; every GPU must be connected"));
      }
      const int cap = MaxNvLinksPerGpu(nv_gen[d]);
      if (nv_total[d] > cap) {
        return absl::InvalidArgumentError(absl::StrCat(
            "devices[", d, "] (", Printable(devices[d].name), "): ", nv_total[d],
            " NVLinks in all, more than the ", cap, " a GPU of NVLink generation ", nv_gen[d],
            nv_gen[d] == 0 ? " (unknown)" : "", " has"));
      }
    }
  }

  Graph g(n);
  for (const auto& [key, gbps] : bonded) {
    boost::add_edge(key.first, key.second, gbps, g);
    boost::add_edge(key.second, key.first, gbps, g);
  }
  std::vector<char> forwards(n);
  for (int i = 0; i < n; ++i) forwards[i] = IsEndpoint(devices[i].kind) ? 0 : 1;

  // NVLink-only graph weighted by link count, forwarding only through NVSwitches.
  Graph nvg(n);
  for (const auto& [key, count] : nv_count) {
    boost::add_edge(key.first, key.second, static_cast<double>(count), nvg);
    boost::add_edge(key.second, key.first, static_cast<double>(count), nvg);
  }
  std::vector<char> nv_forwards(n);
  for (int i = 0; i < n; ++i) nv_forwards[i] = devices[i].kind == DeviceKind::kNvSwitch ? 1 : 0;

  GpuTopology t;
  t.name_ = std::move(name);
  static std::atomic<uint64_t> next_id{1};  // ids only: no state a decision depends on
  t.id_ = next_id.fetch_add(1, std::memory_order_relaxed);
  const int k = static_cast<int>(gpu_devices.size());
  t.gpu_count_ = k;
  t.bw_.assign(static_cast<size_t>(k) * k, 0.0);
  t.hops_.assign(static_cast<size_t>(k) * k, -1);
  t.nvlinks_.assign(static_cast<size_t>(k) * k, 0);
  t.numa_.assign(k, -1);

  std::vector<int> socket_numa(n, -1);
  int socket_ordinal = 0;
  for (int i = 0; i < n; ++i) {
    if (devices[i].kind != DeviceKind::kCpuSocket) continue;
    socket_numa[i] = devices[i].numa >= 0 ? devices[i].numa : socket_ordinal;
    ++socket_ordinal;
  }

  for (int ga = 0; ga < k; ++ga) {
    const Vertex src = gpu_devices[ga];
    const std::vector<double> width = WidestFrom(g, forwards, src);
    const std::vector<double> nv_width = WidestFrom(nvg, nv_forwards, src);
    std::map<double, std::vector<int>> hops_by_width;  // one BFS per distinct bottleneck
    for (int gb = 0; gb < k; ++gb) {
      const size_t idx = static_cast<size_t>(ga) * k + gb;
      if (ga == gb) {
        t.hops_[idx] = 0;
        continue;
      }
      const Vertex dst = gpu_devices[gb];
      const std::pair<int, int> key = std::minmax(static_cast<int>(src), static_cast<int>(dst));
      if (auto it = nv_gbps.find(key); it != nv_gbps.end()) {
        t.bw_[idx] = it->second;
        t.hops_[idx] = 1;
        t.nvlinks_[idx] = nv_count[key];
        continue;
      }
      t.nvlinks_[idx] = static_cast<int>(nv_width[dst]);
      const double w = width[dst];
      if (w <= 0) continue;
      t.bw_[idx] = w;
      auto [it, inserted] = hops_by_width.try_emplace(w);
      if (inserted) it->second = HopsFrom(g, forwards, src, w);
      t.hops_[idx] = it->second[dst];
    }
    // NUMA.
    if (devices[src].numa >= 0) {
      t.numa_[ga] = devices[src].numa;
    } else {
      const std::vector<int> dist = HopsFrom(g, forwards, src, 0.0);
      int best = -1;
      for (int v = 0; v < n; ++v) {
        if (devices[v].kind != DeviceKind::kCpuSocket || dist[v] < 0) continue;
        if (best < 0 || dist[v] < dist[best]) best = v;
      }
      if (best >= 0) t.numa_[ga] = socket_numa[best];
    }
  }

  t.devices_ = std::move(devices);
  t.links_ = std::move(links);
  return t;
}

std::vector<std::string> TopologyWarnings(const GpuTopology& t) {
  std::vector<std::string> out;
  const int k = t.gpu_count();
  std::vector<std::string> gpu_names;
  std::vector<int> gpu_device;
  for (size_t i = 0; i < t.devices().size(); ++i) {
    if (t.devices()[i].kind != DeviceKind::kGpu) continue;
    gpu_names.push_back(t.devices()[i].name.empty() ? absl::StrCat("GPU", gpu_names.size())
                                                    : Printable(t.devices()[i].name));
    gpu_device.push_back(static_cast<int>(i));
  }
  constexpr int kMaxListed = 8;
  int unreachable = 0;
  for (int a = 0; a < k; ++a) {
    for (int b = a + 1; b < k; ++b) {
      if (t.Bandwidth(a, b) > 0) continue;
      if (++unreachable <= kMaxListed) {
        out.push_back(absl::StrCat(gpu_names[a], " and ", gpu_names[b],
                                   ": no path between them (bandwidth 0)"));
      }
    }
  }
  if (unreachable > kMaxListed) {
    out.push_back(absl::StrCat("... and ", unreachable - kMaxListed, " more GPU pairs with no path"));
  }
  bool any_numa = false;
  for (int g = 0; g < k; ++g) any_numa = any_numa || t.NumaOf(g) >= 0;
  if (any_numa) {
    for (int g = 0; g < k; ++g) {
      if (t.NumaOf(g) < 0) {
        out.push_back(absl::StrCat(gpu_names[g], ": NUMA node unknown while other GPUs have one"));
      }
    }
  }
  std::vector<int> lo(t.devices().size(), 0), hi(t.devices().size(), 0);
  for (const Link& l : t.links()) {
    if (l.kind != LinkKind::kNvLink || l.generation == 0) continue;
    for (int end : {l.a, l.b}) {
      lo[end] = lo[end] == 0 ? l.generation : std::min(lo[end], l.generation);
      hi[end] = std::max(hi[end], l.generation);
    }
  }
  for (int g = 0; g < k; ++g) {
    const int d = gpu_device[g];
    if (lo[d] != hi[d]) {
      out.push_back(absl::StrCat(gpu_names[g], ": NVLinks of mixed generations (", lo[d], " and ",
                                 hi[d], ")"));
    }
  }
  return out;
}

double GpuTopology::Bandwidth(int gpu_a, int gpu_b) const {
  if (gpu_a < 0 || gpu_b < 0 || gpu_a >= gpu_count_ || gpu_b >= gpu_count_) return 0;
  return bw_[static_cast<size_t>(gpu_a) * gpu_count_ + gpu_b];
}

double GpuTopology::MinBandwidth(const std::vector<int>& gpus) const {
  if (gpus.size() < 2) return 0;
  double lo = std::numeric_limits<double>::infinity();
  for (size_t a = 0; a < gpus.size(); ++a) {
    for (size_t b = a + 1; b < gpus.size(); ++b) lo = std::min(lo, Bandwidth(gpus[a], gpus[b]));
  }
  return lo;
}

int GpuTopology::Hops(int gpu_a, int gpu_b) const {
  if (gpu_a < 0 || gpu_b < 0 || gpu_a >= gpu_count_ || gpu_b >= gpu_count_) return -1;
  return hops_[static_cast<size_t>(gpu_a) * gpu_count_ + gpu_b];
}

int GpuTopology::NumaOf(int gpu) const {
  if (gpu < 0 || gpu >= gpu_count_) return -1;
  return numa_[gpu];
}

int GpuTopology::NvLinks(int gpu_a, int gpu_b) const {
  if (gpu_a < 0 || gpu_b < 0 || gpu_a >= gpu_count_ || gpu_b >= gpu_count_) return 0;
  return nvlinks_[static_cast<size_t>(gpu_a) * gpu_count_ + gpu_b];
}

}  // namespace gpusched::topology

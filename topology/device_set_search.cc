// Best device set: exact branch and bound for up to kExactLimit free GPUs, greedy beyond.
//
// Exact search (n <= 16 free GPUs, as 16-bit masks over a local bandwidth matrix):
//   1. The best minimum pairwise bandwidth M* is the largest threshold T (a distinct pair
//      bandwidth) for which the graph "bandwidth >= T" has a k-clique: a binary search over the
//      distinct values, each step a bitmask clique search that stops at the first clique.
//   2. Only the k-cliques of that graph (the sets tied on M*) are enumerated, depth first in
//      lexicographic order, with branch and bound on quality 2-3 against the best set so far: a
//      ring as fast as the best needs every member to have two links that fast inside the set,
//      sockets already spanned (plus the fewest more that can hold the rest) bound the socket
//      count, and GPUs on preferred_numa are bounded from above. Ring bandwidth at a leaf is lazy:
//      an upper bound (min over members of the second-fastest link) settles most sets; k <= 8 is
//      exact (bottleneck Hamiltonian cycle: thresholds descending, a bitmask DP of at most
//      2^(k-1)*k steps per threshold), larger k takes the best nearest-neighbour ring over starts.
//   3. Sockets (distinct NumaOf), then GPUs on preferred_numa.
//   4. "What is left", only for the sets still tied: the best quad's min bandwidth among the
//      remaining free GPUs (if 4 remain), then the best pair's (exact, same clique search). The
//      first (lexicographically smallest) set wins the last tie.
//
// Trivial answers first (any n): k == n takes every free GPU; k == 1 beyond the exact limit takes
// the most loosely connected GPU (the smallest best link to another free GPU), on preferred_numa
// when one is there, ties the lower index: what the leftover rule prefers, in O(n^2).
//
// Greedy (n > 16): from each seed GPU (every GPU while the work budget allows, else S evenly
// spaced seeds), k-1 times add the free GPU that keeps the set's minimum
// bandwidth highest (ties: no new socket, most bandwidth to the set, the socket with the most
// tying GPUs, preferred_numa, lower index), then 1-swap local search on the minimum bandwidth.
// The seeds' distinct sets are compared by quality 1-3; "what is left" is the best remaining
// pair, then a quad grown greedily from it; last tie: lexicographically smallest.
//
// Bounds (n free GPUs, k wanted): exact search O(C(16, k) * k^2) at most (n <= 16). Greedy:
// S = min(n, max(8, kGreedyBudget / (n*k + n^2))) seeds (kGreedyBudget = 3e7: all seeds up to
// ~120 GPUs at k = 8); per seed O(n*k) to grow, at most kMaxSwapPasses (16) swap passes of
// O(k^2 + n*k) each, a ring of O(kRingStarts * k^2) (8 nearest-neighbour starts beyond k = 16),
// O(n^2) for what is left: in all O(n^2 + S * (16 * (k^2 + n*k) + n^2)), a few hundred million
// steps at n = 1,024 (well under a second; bench/topology_benchmark.cc).
//
// Measured gap of the greedy against the exact search (the greedy run on inputs the exact search
// also solves; min-bandwidth ratio greedy/exact; harness: the .cc included into a test program):
//   presets dgx1-v100, pcie-8gpu, dgx-a100, hgx-h100, every free mask, k = 2..|free|-1
//   (2088 cases): never worse (ratio 1.0 everywhere); ring bandwidth lower in 23 of 522
//   dgx1-v100 cases.
//   random 12-16 GPU topologies (PCIe switches of 2-4 GPUs on 2-4 sockets, random NVLink mesh
//   of density 0.1-0.6 with 1-3 links per pair), ~75% of GPUs free, random k (20000 cases):
//   min bandwidth lower in 0.20%, mean ratio 0.9996, worst 0.50; with the min tied, ring lower
//   in 9.4% and sockets more in 1.1%. All free, k = 2/4/8 (900 cases): lower in 0.56%, mean
//   0.9992, worst 0.80. (Without the 1-swap step: lower in 0.9%, worst 0.30.)

#include "topology/device_set_search.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <functional>
#include <cmath>
#include <limits>
#include <numeric>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace gpusched::topology {
namespace {

constexpr double kNoBound = -std::numeric_limits<double>::infinity();
constexpr int kExactRingLimit = 8;  // exact rings up to this size, nearest-neighbour beyond
constexpr int kExactRingPairs = kExactRingLimit * (kExactRingLimit - 1) / 2;
constexpr int kRingStarts = 16;        // nearest-neighbour ring starts: every member up to this k
constexpr int kRingStartsLarge = 8;    // ... and this many, evenly spaced, beyond
constexpr double kGreedyBudget = 3e7;  // seeds x (n*k + n^2) for the greedy
constexpr int kMinSeeds = 8;
constexpr int kMaxSwapPasses = 16;

// std::popcount compiles to a libgcc call without -mpopcnt (our baseline x86-64 target); this
// inline SWAR count is several times faster in the search loops.
inline int Popcount(uint32_t x) {
  x = x - ((x >> 1) & 0x55555555u);
  x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
  x = (x + (x >> 4)) & 0x0f0f0f0fu;
  return static_cast<int>((x * 0x01010101u) >> 24);
}

// The free GPUs as a dense local problem: bandwidth matrix and sockets, local index i <-> gpus[i]
// (ascending global index, so ascending local lists are ascending global lists).
struct Local {
  int n = 0;
  std::vector<int> gpus;
  std::vector<double> bw;  // n x n
  std::vector<int> numa;
  std::vector<int> socket;  // dense socket id per GPU (distinct numa values, -1 included)
  int socket_count = 0;
  double at(int i, int j) const { return bw[static_cast<size_t>(i) * n + j]; }
};

Local MakeLocal(const GpuTopology& t, std::vector<int> sorted_free) {
  Local l;
  l.n = static_cast<int>(sorted_free.size());
  l.gpus = std::move(sorted_free);
  l.bw.assign(static_cast<size_t>(l.n) * l.n, 0.0);
  l.numa.resize(l.n);
  l.socket.resize(l.n);
  std::vector<int> seen;
  for (int i = 0; i < l.n; ++i) {
    l.numa[i] = t.NumaOf(l.gpus[i]);
    auto it = std::find(seen.begin(), seen.end(), l.numa[i]);
    l.socket[i] = static_cast<int>(it - seen.begin());
    if (it == seen.end()) seen.push_back(l.numa[i]);
    for (int j = i + 1; j < l.n; ++j) {
      const double b = t.Bandwidth(l.gpus[i], l.gpus[j]);
      l.bw[static_cast<size_t>(i) * l.n + j] = b;
      l.bw[static_cast<size_t>(j) * l.n + i] = b;
    }
  }
  l.socket_count = static_cast<int>(seen.size());
  return l;
}

double MinBandwidth(const Local& l, const int* m, int k) {
  if (k < 2) return 0;
  double lo = std::numeric_limits<double>::infinity();
  for (int a = 0; a < k; ++a)
    for (int b = a + 1; b < k; ++b) lo = std::min(lo, l.at(m[a], m[b]));
  return lo;
}

// Whether the graph on k vertices given by `adj` (bit j of adj[i]: edge i-j) has a Hamiltonian
// cycle. dp[mask]: the vertices a path from vertex 0 through exactly `mask` can end at.
bool HasHamiltonianCycle(const uint32_t* adj, int k) {
  std::array<uint32_t, 1u << kExactRingLimit> dp{};
  const uint32_t full = (1u << k) - 1;
  dp[1] = 1;
  for (uint32_t mask = 1; mask <= full; mask += 2) {  // masks containing vertex 0
    uint32_t ends = dp[mask];
    while (ends != 0) {
      const int v = std::countr_zero(ends);
      ends &= ends - 1;
      uint32_t next = adj[v] & ~mask;
      while (next != 0) {
        const int u = std::countr_zero(next);
        next &= next - 1;
        dp[mask | (1u << u)] |= 1u << u;
      }
    }
  }
  uint32_t ends = dp[full];
  while (ends != 0) {
    const int v = std::countr_zero(ends);
    ends &= ends - 1;
    if (adj[v] & 1u) return true;
  }
  return false;
}

// The best ring's slowest hop over members m[0..k). Exact for k <= kExactRingLimit when the
// answer is >= at_least; when it is below at_least the result is some value below at_least
// (the caller discards the set). Nearest-neighbour rings from every start for larger k.
double RingBandwidth(const Local& l, const int* m, int k, double min_bw, double at_least) {
  if (k < 2) return 0;
  if (k <= 3) return min_bw;  // a pair or a triangle: the ring uses every pair
  if (k > kExactRingLimit) {
    double best = min_bw;
    std::vector<char> used(k);
    const int starts = k <= kRingStarts ? k : kRingStartsLarge;
    for (int si = 0; si < starts; ++si) {
      const int s = static_cast<int>(static_cast<int64_t>(si) * k / starts);
      std::fill(used.begin(), used.end(), 0);
      used[s] = 1;
      int cur = s;
      double hop = std::numeric_limits<double>::infinity();
      for (int step = 1; step < k; ++step) {
        int pick = -1;
        for (int u = 0; u < k; ++u) {
          if (used[u]) continue;
          if (pick < 0 || l.at(m[cur], m[u]) > l.at(m[cur], m[pick])) pick = u;
        }
        hop = std::min(hop, l.at(m[cur], m[pick]));
        used[pick] = 1;
        cur = pick;
      }
      hop = std::min(hop, l.at(m[cur], m[s]));
      best = std::max(best, hop);
    }
    return best;
  }
  // Upper bound: each GPU has two ring neighbours, so the ring is no faster than the second-best
  // link of any GPU.
  double ub = std::numeric_limits<double>::infinity();
  std::array<double, kExactRingPairs> values{};
  int nv = 0;
  for (int a = 0; a < k; ++a) {
    double first = kNoBound, second = kNoBound;
    for (int b = 0; b < k; ++b) {
      if (a == b) continue;
      const double w = l.at(m[a], m[b]);
      if (w > first) {
        second = first;
        first = w;
      } else if (w > second) {
        second = w;
      }
      if (b > a) values[nv++] = w;
    }
    ub = std::min(ub, second);
  }
  if (ub < at_least || ub <= min_bw) return ub;
  std::sort(values.begin(), values.begin() + nv);
  const double floor = std::max(min_bw, at_least);
  for (int i = nv - 1; i >= 0; --i) {
    const double thr = values[i];
    if (thr > ub || (i + 1 < nv && values[i + 1] == thr)) continue;
    if (thr < floor) break;
    if (thr == min_bw) return min_bw;  // every pair qualifies: any ring will do
    std::array<uint32_t, kExactRingLimit> adj{};
    for (int a = 0; a < k; ++a)
      for (int b = 0; b < k; ++b)
        if (a != b && l.at(m[a], m[b]) >= thr) adj[a] |= 1u << b;
    if (HasHamiltonianCycle(adj.data(), k)) return thr;
  }
  // Only reached when at_least > min_bw and no ring reaches at_least: report "worse".
  return min_bw;
}

struct Quality {
  double min_bw = 0;
  double ring = 0;
  int sockets = 0;
  int on_preferred = 0;
};

// > 0 when a is better than b, < 0 when worse, 0 when tied.
int Compare(const Quality& a, const Quality& b) {
  if (a.min_bw != b.min_bw) return a.min_bw > b.min_bw ? 1 : -1;
  if (a.ring != b.ring) return a.ring > b.ring ? 1 : -1;
  if (a.sockets != b.sockets) return a.sockets < b.sockets ? 1 : -1;
  if (a.on_preferred != b.on_preferred) return a.on_preferred > b.on_preferred ? 1 : -1;
  return 0;
}

void FillSockets(const Local& l, const int* m, int k, int preferred, Quality& q) {
  q.sockets = 0;
  q.on_preferred = 0;
  for (int a = 0; a < k; ++a) {
    bool seen = false;
    for (int b = 0; b < a && !seen; ++b) seen = l.numa[m[b]] == l.numa[m[a]];
    if (!seen) ++q.sockets;
    if (preferred >= 0 && l.numa[m[a]] == preferred) ++q.on_preferred;
  }
}

// What is left after taking a set: compared quad first (the scarcer shape), then pair.
struct Leftover {
  double quad = kNoBound;
  double pair = kNoBound;
};

int Compare(const Leftover& a, const Leftover& b) {
  if (a.quad != b.quad) return a.quad > b.quad ? 1 : -1;
  if (a.pair != b.pair) return a.pair > b.pair ? 1 : -1;
  return 0;
}

DeviceSet MakeResult(const Local& l, const int* m, int k, const Quality& q) {
  DeviceSet s;
  s.gpus.reserve(k);
  for (int i = 0; i < k; ++i) s.gpus.push_back(l.gpus[m[i]]);
  std::sort(s.gpus.begin(), s.gpus.end());
  s.min_bandwidth = q.min_bw;
  s.ring_bandwidth = q.ring;
  s.sockets = q.sockets;
  return s;
}

// ---------------------------------------------------------------------------------------------
// Exact search over at most kExactLimit free GPUs.

class ExactSearch {
 public:
  ExactSearch(const Local& l, const SearchOptions& options) : l_(l), options_(options) {
    values_.reserve(static_cast<size_t>(l.n) * (l.n - 1) / 2);
    for (int i = 0; i < l.n; ++i)
      for (int j = i + 1; j < l.n; ++j) values_.push_back(l.at(i, j));
    std::sort(values_.begin(), values_.end());
    values_.erase(std::unique(values_.begin(), values_.end()), values_.end());
    adj_.resize(values_.size());
    adj_ready_.assign(values_.size(), 0);
  }

  DeviceSet Run(int k) {
    k_ = k;
    const uint32_t all = (1u << l_.n) - 1;
    for (int i = 0; i < l_.n; ++i) {
      if (options_.preferred_numa >= 0 && l_.numa[i] == options_.preferred_numa)
        preferred_mask_ |= 1u << i;
      socket_gpus_[l_.socket[i]] |= 1u << i;
    }
    min_bw_ = 0;
    clique_adj_ = nullptr;  // k == 1: every GPU qualifies
    if (k >= 2) {
      const int vi = BestValueIndex(k, all);
      min_bw_ = values_[vi];
      clique_adj_ = Adj(vi);
    }
    Search(0, 0, all);
    uint32_t winner = ties_.front();
    if (ties_.size() > 1) {
      Leftover best_left = Left(all & ~winner);
      for (size_t i = 1; i < ties_.size(); ++i) {
        const Leftover left = Left(all & ~ties_[i]);
        if (Compare(left, best_left) > 0) {
          best_left = left;
          winner = ties_[i];
        }
      }
    }
    int m[kExactLimit];
    int count = 0;
    for (uint32_t w = winner; w != 0; w &= w - 1) m[count++] = std::countr_zero(w);
    return MakeResult(l_, m, count, best_);
  }

 private:
  // Depth-first over the k-cliques of the min-bandwidth graph (ascending members, so sets come in
  // lexicographic order), keeping in ties_ the sets best on quality 1-3. A branch is cut when it
  // can neither beat nor tie the best set so far (see Viable).
  void Search(int depth, uint32_t chosen, uint32_t cand) {
    if (depth == k_) {
      Visit(chosen);
      return;
    }
    if (have_best_ && !Viable(depth, chosen, cand)) return;
    while (Popcount(cand) >= k_ - depth) {
      const int v = std::countr_zero(cand);
      cand &= cand - 1;
      chosen_[depth] = v;
      Search(depth + 1, chosen | (1u << v),
             clique_adj_ != nullptr ? (cand & clique_adj_[v]) : cand);
    }
  }

  // Whether a set grown from `chosen` with GPUs of `cand` can still beat or tie the best set.
  // Ring: every member of a ring uses two of its links, so a ring at least as fast as the best
  // needs every chosen GPU to have two links that fast within chosen | cand. Without a faster
  // ring, sockets (a lower bound: those already spanned) and GPUs on preferred_numa (an upper
  // bound) decide.
  bool Viable(int depth, uint32_t chosen, uint32_t cand) const {
    const uint32_t reach = chosen | cand;
    if (k_ >= 4) {
      bool faster_ring = true;
      for (uint32_t c = chosen; c != 0; c &= c - 1) {
        const int v = std::countr_zero(c);
        if (Popcount(ring_ge_[v] & reach) < 2) return false;
        if (Popcount(ring_gt_[v] & reach) < 2) faster_ring = false;
      }
      if (faster_ring) return true;
    }
    // Sockets: those spanned, plus as few others as can hold the GPUs still to choose.
    uint32_t spanned = 0;
    uint32_t spanned_gpus = 0;
    for (uint32_t c = chosen; c != 0; c &= c - 1) {
      const int s = l_.socket[std::countr_zero(c)];
      spanned |= 1u << s;
      spanned_gpus |= socket_gpus_[s];
    }
    int sockets = Popcount(spanned);
    if (sockets > best_.sockets) return false;
    int need = k_ - depth - Popcount(cand & spanned_gpus);
    if (need > 0) {
      std::array<int, kExactLimit> room{};
      int n = 0;
      for (int s = 0; s < l_.socket_count; ++s)
        if (!(spanned >> s & 1u)) room[n++] = Popcount(cand & socket_gpus_[s]);
      std::sort(room.begin(), room.begin() + n, std::greater<int>());
      for (int i = 0; i < n && need > 0; ++i) {
        need -= room[i];
        ++sockets;
      }
      if (sockets > best_.sockets) return false;
    }
    if (sockets < best_.sockets) return true;  // fewer sockets would win whatever the preference
    const int pref_ub = Popcount(chosen & preferred_mask_) +
                        std::min(k_ - depth, Popcount(cand & preferred_mask_));
    return pref_ub >= best_.on_preferred;
  }

  void Visit(uint32_t chosen) {
    const int* m = chosen_.data();
    Quality q;
    q.min_bw = min_bw_;
    q.ring = RingBandwidth(l_, m, k_, min_bw_, have_best_ ? best_.ring : kNoBound);
    if (have_best_ && q.ring < best_.ring) return;
    FillSockets(l_, m, k_, options_.preferred_numa, q);
    const int c = have_best_ ? Compare(q, best_) : 1;
    if (c > 0) {
      if (!have_best_ || q.ring != best_.ring) SetRingMasks(q.ring);
      best_ = q;
      have_best_ = true;
      ties_.clear();
      ties_.push_back(chosen);
    } else if (c == 0) {
      ties_.push_back(chosen);
    }
  }

  // ring_ge_ / ring_gt_: links at least as fast as / faster than `ring`, a pair bandwidth.
  void SetRingMasks(double ring) {
    const int vi =
        static_cast<int>(std::lower_bound(values_.begin(), values_.end(), ring) - values_.begin());
    for (int i = 0; i < l_.n; ++i) {
      ring_ge_[i] = vi < static_cast<int>(values_.size()) ? Adj(vi)[i] : 0;
      ring_gt_[i] = vi + 1 < static_cast<int>(values_.size()) ? Adj(vi + 1)[i] : 0;
    }
  }

  // Adjacency masks of the graph "bandwidth >= values_[vi]", built on first use.
  const uint32_t* Adj(int vi) {
    if (!adj_ready_[vi]) {
      const double thr = values_[vi];
      for (int i = 0; i < l_.n; ++i) {
        uint32_t a = 0;
        for (int j = 0; j < l_.n; ++j)
          if (j != i && l_.at(i, j) >= thr) a |= 1u << j;
        adj_[vi][i] = a;
      }
      adj_ready_[vi] = 1;
    }
    return adj_[vi].data();
  }

  static bool HasClique(const uint32_t* adj, uint32_t cand, int need) {
    if (need == 0) return true;
    while (Popcount(cand) >= need) {
      const int v = std::countr_zero(cand);
      cand &= cand - 1;
      if (HasClique(adj, cand & adj[v], need - 1)) return true;
    }
    return false;
  }

  // The largest value index whose graph has an s-clique inside `mask` (s >= 2, popcount >= s).
  // values_[0] is the smallest pair bandwidth overall, so index 0 always qualifies.
  int BestValueIndex(int s, uint32_t mask) {
    int lo = 0, hi = static_cast<int>(values_.size()) - 1;
    while (lo < hi) {
      const int mid = (lo + hi + 1) / 2;
      if (HasClique(Adj(mid), mask, s)) {
        lo = mid;
      } else {
        hi = mid - 1;
      }
    }
    return lo;
  }

  Leftover Left(uint32_t rest) {
    Leftover left;
    const int r = Popcount(rest);
    if (r >= 2) {
      double pair = kNoBound;
      for (uint32_t a = rest; a != 0; a &= a - 1) {
        const int i = std::countr_zero(a);
        for (uint32_t b = a & (a - 1); b != 0; b &= b - 1)
          pair = std::max(pair, l_.at(i, std::countr_zero(b)));
      }
      left.pair = pair;
    }
    if (r >= 4) left.quad = values_[BestValueIndex(4, rest)];
    return left;
  }

  const Local& l_;
  const SearchOptions& options_;
  std::vector<double> values_;  // distinct pair bandwidths, ascending
  std::vector<std::array<uint32_t, kExactLimit>> adj_;
  std::vector<char> adj_ready_;
  // The search.
  int k_ = 0;
  double min_bw_ = 0;
  const uint32_t* clique_adj_ = nullptr;
  uint32_t preferred_mask_ = 0;
  std::array<uint32_t, kExactLimit> socket_gpus_{};  // by dense socket id
  std::array<int, kExactLimit> chosen_{};
  bool have_best_ = false;
  Quality best_;
  std::vector<uint32_t> ties_;
  std::array<uint32_t, kExactLimit> ring_ge_{};
  std::array<uint32_t, kExactLimit> ring_gt_{};
};

// ---------------------------------------------------------------------------------------------
// Greedy search for more than kExactLimit free GPUs.

// Grows a set from `seed` (local index), k-1 times adding the free GPU that keeps the set's min
// bandwidth highest. Ties: a GPU on a socket the set already spans; then the highest total
// bandwidth to the set (good rings); then, when a new socket must be opened, the socket with the
// most GPUs that tie (so the set fills whole sockets); then `preferred`; then the lower index.
// Grow returns the members in order of addition; the buffers are reused from seed to seed.
class Grower {
 public:
  Grower(const Local& l, int preferred)
      : l_(l),
        preferred_(preferred),
        min_to_(l.n),
        sum_to_(l.n),
        taken_(l.n),
        in_set_socket_(l.socket_count),
        tied_on_socket_(l.socket_count) {
    tied_.reserve(l.n);
  }

  std::vector<int> Grow(int seed, int k) {
    std::vector<int> set = {seed};
    set.reserve(k);
    std::fill(taken_.begin(), taken_.end(), 0);
    std::fill(in_set_socket_.begin(), in_set_socket_.end(), 0);
    for (int c = 0; c < l_.n; ++c) min_to_[c] = sum_to_[c] = l_.at(seed, c);
    taken_[seed] = 1;
    in_set_socket_[l_.socket[seed]] = 1;
    double set_min = std::numeric_limits<double>::infinity();
    while (static_cast<int>(set.size()) < k) {
      double best_to = kNoBound;
      for (int c = 0; c < l_.n; ++c)
        if (!taken_[c]) best_to = std::max(best_to, min_to_[c]);
      const double val = std::min(set_min, best_to);
      tied_.clear();
      std::fill(tied_on_socket_.begin(), tied_on_socket_.end(), 0);
      for (int c = 0; c < l_.n; ++c) {
        if (taken_[c] || min_to_[c] < val) continue;
        tied_.push_back(c);
        ++tied_on_socket_[l_.socket[c]];
      }
      const auto rank = [&](int c) {
        return std::make_tuple(in_set_socket_[l_.socket[c]] != 0, sum_to_[c],
                               tied_on_socket_[l_.socket[c]],
                               preferred_ >= 0 && l_.numa[c] == preferred_);
      };
      int pick = tied_.front();
      for (int c : tied_)
        if (rank(c) > rank(pick)) pick = c;
      set.push_back(pick);
      taken_[pick] = 1;
      in_set_socket_[l_.socket[pick]] = 1;
      set_min = val;
      for (int c = 0; c < l_.n; ++c) {
        min_to_[c] = std::min(min_to_[c], l_.at(pick, c));
        sum_to_[c] += l_.at(pick, c);
      }
    }
    return set;
  }

 private:
  const Local& l_;
  const int preferred_;
  std::vector<double> min_to_;  // per GPU: its slowest link to the set
  std::vector<double> sum_to_;  // per GPU: its total bandwidth to the set
  std::vector<char> taken_;
  std::vector<char> in_set_socket_;
  std::vector<int> tied_on_socket_;
  std::vector<int> tied_;
};

// 1-swap local search: while replacing one member by an outside GPU raises the set's minimum
// bandwidth, do it (first improvement, members and outsiders in index order).
// `member` is scratch space of l.n zeros, left zero.
void ImproveBySwaps(const Local& l, std::vector<int>& set, std::vector<char>& member) {
  const int k = static_cast<int>(set.size());
  if (k < 2) return;
  for (int g : set) member[g] = 1;
  std::vector<int> in_min_pairs(k);
  bool improved = true;
  for (int pass = 0; improved && pass < kMaxSwapPasses; ++pass) {
    improved = false;
    const double cur = MinBandwidth(l, set.data(), k);
    // Only a member in every minimum pair can raise the min by leaving (at most two of them).
    int min_pairs = 0;
    std::fill(in_min_pairs.begin(), in_min_pairs.end(), 0);
    for (int a = 0; a < k; ++a)
      for (int b = a + 1; b < k; ++b)
        if (l.at(set[a], set[b]) == cur) {
          ++min_pairs;
          ++in_min_pairs[a];
          ++in_min_pairs[b];
        }
    for (int i = 0; i < k && !improved; ++i) {
      if (in_min_pairs[i] != min_pairs) continue;
      // The set's min without member i: only worth a swap when it is above the current min.
      double rest = std::numeric_limits<double>::infinity();
      for (int a = 0; a < k; ++a)
        for (int b = a + 1; b < k; ++b)
          if (a != i && b != i) rest = std::min(rest, l.at(set[a], set[b]));
      if (rest <= cur) continue;
      for (int c = 0; c < l.n && !improved; ++c) {
        if (member[c]) continue;
        double v = rest;
        for (int a = 0; a < k && v > cur; ++a)
          if (a != i) v = std::min(v, l.at(set[a], c));
        if (v > cur) {
          member[set[i]] = 0;
          member[c] = 1;
          set[i] = c;
          improved = true;
        }
      }
    }
  }
  for (int g : set) member[g] = 0;
}

Leftover GreedyLeft(const Local& l, const std::vector<int>& taken_set) {
  std::vector<char> in(l.n, 1);
  for (int g : taken_set) in[g] = 0;
  Leftover left;
  int r = l.n - static_cast<int>(taken_set.size());
  if (r < 2) return left;
  int pa = -1, pb = -1;
  for (int a = 0; a < l.n; ++a) {
    if (!in[a]) continue;
    for (int b = a + 1; b < l.n; ++b) {
      if (!in[b]) continue;
      if (pa < 0 || l.at(a, b) > left.pair) {
        left.pair = l.at(a, b);
        pa = a;
        pb = b;
      }
    }
  }
  if (r >= 4) {
    // A quad grown from the best pair.
    std::vector<int> quad = {pa, pb};
    while (quad.size() < 4) {
      int pick = -1;
      double pick_val = kNoBound;
      for (int c = 0; c < l.n; ++c) {
        if (!in[c] || std::find(quad.begin(), quad.end(), c) != quad.end()) continue;
        double v = std::numeric_limits<double>::infinity();
        for (int q : quad) v = std::min(v, l.at(q, c));
        if (pick < 0 || v > pick_val) {
          pick = c;
          pick_val = v;
        }
      }
      quad.push_back(pick);
    }
    left.quad = MinBandwidth(l, quad.data(), 4);
  }
  return left;
}

DeviceSet GreedySearch(const Local& l, int k, const SearchOptions& options) {
  std::set<std::vector<int>> seen;
  std::vector<std::vector<int>> ties;
  Quality best;
  bool have_best = false;
  Grower grower(l, options.preferred_numa);
  std::vector<char> member(l.n, 0);
  const double per_seed = static_cast<double>(l.n) * k + static_cast<double>(l.n) * l.n;
  const int seeds = static_cast<int>(
      std::min<double>(l.n, std::max<double>(kMinSeeds, std::floor(kGreedyBudget / per_seed))));
  for (int si = 0; si < seeds; ++si) {
    const int seed = static_cast<int>(static_cast<int64_t>(si) * l.n / seeds);
    std::vector<int> set = grower.Grow(seed, k);
    ImproveBySwaps(l, set, member);
    std::sort(set.begin(), set.end());
    if (!seen.insert(set).second) continue;
    Quality q;
    q.min_bw = MinBandwidth(l, set.data(), k);
    if (have_best && q.min_bw < best.min_bw) continue;
    const double at_least = have_best && q.min_bw == best.min_bw ? best.ring : kNoBound;
    q.ring = RingBandwidth(l, set.data(), k, q.min_bw, at_least);
    FillSockets(l, set.data(), k, options.preferred_numa, q);
    const int c = have_best ? Compare(q, best) : 1;
    if (c > 0) {
      best = q;
      have_best = true;
      ties.clear();
      ties.push_back(std::move(set));
    } else if (c == 0) {
      ties.push_back(std::move(set));
    }
  }
  size_t winner = 0;
  if (ties.size() > 1) {
    Leftover best_left = GreedyLeft(l, ties[0]);
    for (size_t i = 1; i < ties.size(); ++i) {
      const Leftover left = GreedyLeft(l, ties[i]);
      const int c = Compare(left, best_left);
      if (c > 0 || (c == 0 && ties[i] < ties[winner])) {
        best_left = left;
        winner = i;
      }
    }
  }
  return MakeResult(l, ties[winner].data(), k, best);
}

// k == n: every free GPU.
DeviceSet AllOf(const Local& l, const SearchOptions& options) {
  std::vector<int> m(l.n);
  std::iota(m.begin(), m.end(), 0);
  Quality q;
  q.min_bw = MinBandwidth(l, m.data(), l.n);
  q.ring = RingBandwidth(l, m.data(), l.n, q.min_bw, kNoBound);
  FillSockets(l, m.data(), l.n, options.preferred_numa, q);
  return MakeResult(l, m.data(), l.n, q);
}

// k == 1 on many GPUs: the most loosely connected GPU (on preferred_numa when possible).
DeviceSet Loosest(const Local& l, const SearchOptions& options) {
  bool any_preferred = false;
  for (int i = 0; i < l.n; ++i) any_preferred = any_preferred || l.numa[i] == options.preferred_numa;
  int pick = -1;
  double pick_best = 0;
  for (int i = 0; i < l.n; ++i) {
    if (options.preferred_numa >= 0 && any_preferred && l.numa[i] != options.preferred_numa) continue;
    double best = 0;
    for (int j = 0; j < l.n; ++j)
      if (j != i) best = std::max(best, l.at(i, j));
    if (pick < 0 || best < pick_best) {
      pick = i;
      pick_best = best;
    }
  }
  Quality q;
  q.sockets = 1;
  return MakeResult(l, &pick, 1, q);
}

}  // namespace

absl::StatusOr<DeviceSet> BestDeviceSet(const GpuTopology& t, const std::vector<int>& free, int k,
                                        const SearchOptions& options) {
  if (k < 1) return absl::InvalidArgumentError(absl::StrCat("k: must be >= 1, got ", k));
  if (k > static_cast<int>(free.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat("k: ", k, " exceeds the ", free.size(), " free GPUs"));
  }
  std::vector<int> sorted = free;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (sorted[i] < 0 || sorted[i] >= t.gpu_count()) {
      return absl::InvalidArgumentError(
          absl::StrCat("free: GPU index ", sorted[i], " out of range [0, ", t.gpu_count(), ")"));
    }
    if (i > 0 && sorted[i] == sorted[i - 1]) {
      return absl::InvalidArgumentError(absl::StrCat("free: GPU index ", sorted[i], " repeated"));
    }
  }
  const Local l = MakeLocal(t, std::move(sorted));
  if (k == l.n) return AllOf(l, options);
  if (l.n > kExactLimit && k == 1) return Loosest(l, options);
  if (l.n <= kExactLimit) return ExactSearch(l, options).Run(k);
  return GreedySearch(l, k, options);
}

}  // namespace gpusched::topology

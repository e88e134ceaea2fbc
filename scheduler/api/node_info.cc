#include "scheduler/api/node_info.h"

#include <algorithm>
#include <atomic>
#include <cassert>
#include <optional>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/mutex.h"

namespace gpusched::framework {

absl::Status ValidateGpuRequest(const GpuRequest& req) {
  if (req.count < 0) return absl::InvalidArgumentError("gpu.count: must be >= 0");
  if (req.count == 0) {
    if (req.milli_per_gpu != GpuMilli(0) || req.memory_per_gpu != GpuMemMiB(0)) {
      return absl::InvalidArgumentError(
          "gpu.count: is 0 but milli_per_gpu or memory_per_gpu is set");
    }
    return absl::OkStatus();
  }
  if (req.milli_per_gpu < GpuMilli(0) || req.milli_per_gpu > kOneGpu) {
    return absl::InvalidArgumentError(
        absl::StrCat("gpu.milli_per_gpu: must be in [0, 1000], got ", req.milli_per_gpu.value()));
  }
  if (req.memory_per_gpu < GpuMemMiB(0)) {
    return absl::InvalidArgumentError("gpu.memory_per_gpu: must be >= 0");
  }
  if (!req.whole()) {
    if (req.count != 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "gpu.count: a share of a GPU (", req.milli_per_gpu.value(),
          "m) is for one device; ask for whole GPUs (1000m each) to use ", req.count));
    }
    if (req.milli_per_gpu == GpuMilli(0) && req.memory_per_gpu == GpuMemMiB(0)) {
      return absl::InvalidArgumentError("gpu: a share needs milli_per_gpu or memory_per_gpu > 0");
    }
  }
  return absl::OkStatus();
}

NodeInfo::NodeInfo(NodeSpec spec)
    : cpu_capacity_(spec.cpu),
      memory_capacity_(spec.memory),
      max_pods_(spec.max_pods),
      gpu_count_(static_cast<int32_t>(spec.gpus.size())),
      cordoned_or_tainted_(spec.unschedulable || !spec.taints.empty()),
      spec_(std::move(spec)) {
  gpus_.reserve(spec_.gpus.size());
  for (const GpuDevice& d : spec_.gpus) {
    gpus_.push_back(GpuSlot{d, kOneGpu, d.memory, 0});
  }
  RecomputeAggregates();
}

namespace {
// A new generation is never handed out twice, so a generation names one state of one node even
// if a node is removed and another reuses its address; only copies of that very state share it
// (ShareGeneration, for the snapshot store's replicas).
std::atomic<uint64_t> next_generation{1};
}  // namespace

void NodeInfo::ShareGeneration(const NodeInfo& same) {
  assert(*this == same);
  generation_ = same.generation_;
}

void NodeInfo::RecomputeAggregates() {
  generation_ = next_generation.fetch_add(1, std::memory_order_relaxed);
  healthy_gpus_ = 0;
  fully_free_gpus_ = 0;
  max_free_milli_ = 0;
  for (const GpuSlot& s : gpus_) {
    if (!s.device.healthy) continue;
    ++healthy_gpus_;
    if (s.fully_free()) ++fully_free_gpus_;
    max_free_milli_ = std::max(max_free_milli_, static_cast<int32_t>(s.milli_free.value()));
  }
}

absl::StatusOr<NodeInfo> NodeInfo::Create(NodeSpec spec) {
  if (spec.name.empty()) return absl::InvalidArgumentError("node: name is empty");
  const std::string& n = spec.name.str();
  if (spec.cpu < MilliCpu(0) || spec.cpu.value() > kMaxAmount) {
    return absl::InvalidArgumentError(absl::StrCat("node ", n, ": cpu out of range"));
  }
  if (spec.memory < MemoryBytes(0) || spec.memory.value() > kMaxAmount) {
    return absl::InvalidArgumentError(absl::StrCat("node ", n, ": memory out of range"));
  }
  if (spec.max_pods < 0) {
    return absl::InvalidArgumentError(absl::StrCat("node ", n, ": max_pods must be >= 0"));
  }
  if (spec.gpus.size() > 1024) {
    return absl::InvalidArgumentError(absl::StrCat("node ", n, ": more than 1024 GPUs"));
  }
  if (spec.topology != nullptr &&
      spec.topology->gpu_count() != static_cast<int>(spec.gpus.size())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "node ", n, ": topology \"", spec.topology->name(), "\" has ",
        spec.topology->gpu_count(), " GPUs but the node has ", spec.gpus.size()));
  }
  for (size_t i = 0; i < spec.gpus.size(); ++i) {
    const GpuMemMiB mem = spec.gpus[i].memory;
    if (mem <= GpuMemMiB(0) || mem.value() > kMaxAmount) {
      return absl::InvalidArgumentError(
          absl::StrCat("node ", n, ": gpus[", i, "].memory must be > 0 MiB"));
    }
  }
  return NodeInfo(std::move(spec));
}

namespace {

// Checks that `shares` can be added to (sign = +1) or removed from (sign = -1) `gpus`.
absl::Status CheckShares(const NodeId& node, const std::vector<GpuSlot>& gpus,
                         absl::Span<const GpuShare> shares, int sign) {
  for (size_t i = 0; i < shares.size(); ++i) {
    const GpuShare& s = shares[i];
    const int32_t idx = s.gpu.value();
    if (idx < 0 || idx >= static_cast<int32_t>(gpus.size())) {
      return absl::InvalidArgumentError(absl::StrCat("node ", node.str(), ": GPU ", idx,
                                                     " does not exist (node has ", gpus.size(),
                                                     ")"));
    }
    for (size_t j = 0; j < i; ++j) {
      if (shares[j].gpu == s.gpu) {
        return absl::InvalidArgumentError(
            absl::StrCat("node ", node.str(), ": GPU ", idx, " appears twice in one assignment"));
      }
    }
    if (s.milli < GpuMilli(0) || s.memory < GpuMemMiB(0) ||
        (s.milli == GpuMilli(0) && s.memory == GpuMemMiB(0))) {
      return absl::InvalidArgumentError(
          absl::StrCat("node ", node.str(), ": empty or negative share of GPU ", idx));
    }
    const GpuSlot& slot = gpus[idx];
    if (sign > 0) {
      if (s.milli > slot.milli_free || s.memory > slot.memory_free) {
        return absl::FailedPreconditionError(absl::StrCat(
            "node ", node.str(), ": GPU ", idx, " has ", slot.milli_free.value(), "m/",
            slot.memory_free.value(), "MiB free, share needs ", s.milli.value(), "m/",
            s.memory.value(), "MiB"));
      }
    } else if (slot.milli_free + s.milli > kOneGpu ||
               slot.memory_free + s.memory > slot.device.memory || slot.pods == 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "node ", node.str(), ": GPU ", idx, " does not hold a share of ", s.milli.value(),
          "m/", s.memory.value(), "MiB to remove"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status NodeInfo::AddPod(const PodResources& req, absl::Span<const GpuShare> shares) {
  const std::string& n = spec_.name.str();
  if (req.cpu < MilliCpu(0) || req.memory < MemoryBytes(0)) {
    return absl::InvalidArgumentError(absl::StrCat("node ", n, ": negative pod request"));
  }
  if (req.cpu > cpu_free()) {
    return absl::FailedPreconditionError(absl::StrCat("node ", n, ": insufficient cpu (",
                                                      cpu_free().value(), "m free, pod needs ",
                                                      req.cpu.value(), "m)"));
  }
  if (req.memory > memory_free()) {
    return absl::FailedPreconditionError(absl::StrCat("node ", n, ": insufficient memory"));
  }
  if (pod_count_ >= max_pods_) {
    return absl::FailedPreconditionError(absl::StrCat("node ", n, ": too many pods"));
  }
  if (static_cast<int32_t>(shares.size()) != req.gpu.count) {
    return absl::InvalidArgumentError(absl::StrCat("node ", n, ": pod asks for ", req.gpu.count,
                                                   " GPU(s) but the assignment names ",
                                                   shares.size()));
  }
  if (auto s = CheckShares(spec_.name, gpus_, shares, +1); !s.ok()) return s;
  cpu_requested_ += req.cpu;
  memory_requested_ += req.memory;
  ++pod_count_;
  if (!req.gpu.empty()) ++gpu_pod_shapes_[ShapeOf(req.gpu)];
  for (const GpuShare& s : shares) {
    GpuSlot& slot = gpus_[s.gpu.value()];
    slot.milli_free -= s.milli;
    slot.memory_free -= s.memory;
    ++slot.pods;
    gpu_milli_used_ += static_cast<int32_t>(s.milli.value());
  }
  RecomputeAggregates();
  return absl::OkStatus();
}

absl::Status NodeInfo::RemovePod(const PodResources& req, absl::Span<const GpuShare> shares) {
  const std::string& n = spec_.name.str();
  if (req.cpu > cpu_requested_ || req.memory > memory_requested_ || pod_count_ == 0 ||
      req.cpu < MilliCpu(0) || req.memory < MemoryBytes(0)) {
    return absl::FailedPreconditionError(
        absl::StrCat("node ", n, ": removing a pod that was never added"));
  }
  if (static_cast<int32_t>(shares.size()) != req.gpu.count) {
    return absl::InvalidArgumentError(absl::StrCat("node ", n, ": pod asks for ", req.gpu.count,
                                                   " GPU(s) but the assignment names ",
                                                   shares.size()));
  }
  if (auto s = CheckShares(spec_.name, gpus_, shares, -1); !s.ok()) return s;
  cpu_requested_ -= req.cpu;
  memory_requested_ -= req.memory;
  --pod_count_;
  if (!req.gpu.empty()) --gpu_pod_shapes_[ShapeOf(req.gpu)];
  for (const GpuShare& s : shares) {
    GpuSlot& slot = gpus_[s.gpu.value()];
    slot.milli_free += s.milli;
    slot.memory_free += s.memory;
    --slot.pods;
    gpu_milli_used_ -= static_cast<int32_t>(s.milli.value());
  }
  RecomputeAggregates();
  return absl::OkStatus();
}

namespace {

bool ModelMatches(const GpuSlot& slot, const GpuRequest& req) {
  return req.AllowsModel(slot.device.model);
}

// Could this device ever serve the request (model and device memory), whatever is in use now?
bool Capable(const GpuSlot& slot, const GpuRequest& req) {
  return ModelMatches(slot, req) && slot.device.memory >= req.memory_per_gpu;
}

bool ShareFitsNow(const GpuSlot& slot, const GpuRequest& req) {
  return slot.device.healthy && slot.milli_free >= req.milli_per_gpu &&
         slot.memory_free >= req.memory_per_gpu;
}

// Why a request that could fit here does not fit now, with the numbers a person needs:
//   "Insufficient free GPUs: needs 4, 1 free here"
//   "Insufficient GPU share: needs 600m of one GPU, at most 250m free on one here"
//   "Insufficient GPU share: needs 250m and 4096 MiB of one GPU, none free enough here"
// The prefix stays kube-scheduler's style ("Insufficient <resource>"), so FitError summaries
// still group nodes by it.
std::string BusyReason(const GpuRequest& req, int32_t free_whole,
                       std::optional<GpuMilli> max_free_milli) {
  if (req.whole()) {
    return absl::StrCat("Insufficient free GPUs: needs ", req.count, ", ", free_whole,
                        " free here");
  }
  if (max_free_milli.has_value()) {
    return absl::StrCat("Insufficient GPU share: needs ", req.milli_per_gpu.value(),
                        "m of one GPU, at most ", max_free_milli->value(), "m free on one here");
  }
  std::string what = absl::StrCat(req.milli_per_gpu.value(), "m");
  if (req.memory_per_gpu > GpuMemMiB(0)) {
    absl::StrAppend(&what, " and ", req.memory_per_gpu.value(), " MiB");
  }
  return absl::StrCat("Insufficient GPU share: needs ", what, " of one GPU",
                      req.models.empty() ? "" : " (" + req.ModelList() + ")",
                      ", none free enough here");
}

// The busy reasons of requests that name no model and no memory (nearly all), made once each and
// kept: a full cluster rejects most nodes on every request with one of a few hundred distinct
// reasons, and formatting each anew (an allocation per rejected node) cost more than the check.
// Bounded: past kMaxInterned distinct reasons, callers format their own. Thread-safe: a
// per-thread map in front of a shared one under a mutex (taken only on a thread's first use of
// a reason).
const char* InternedBusyReason(const GpuRequest& req, int32_t free_whole, GpuMilli max_free_milli) {
  constexpr size_t kMaxInterned = 1 << 16;
  const bool whole = req.whole();
  const uint64_t need = static_cast<uint64_t>(whole ? req.count : req.milli_per_gpu.value());
  const uint64_t have = static_cast<uint64_t>(whole ? free_whole : max_free_milli.value());
  if (need >= (1u << 20) || have >= (1u << 20)) return nullptr;
  const uint64_t key = (uint64_t{whole} << 40) | (need << 20) | have;
  thread_local absl::flat_hash_map<uint64_t, const char*> mine;
  if (auto it = mine.find(key); it != mine.end()) return it->second;
  static Mutex mu;  // common/mutex.h: visible to ThreadSanitizer, unlike Debian's absl::Mutex
  static auto* shared = new absl::flat_hash_map<uint64_t, std::unique_ptr<const std::string>>();
  const char* out = nullptr;
  {
    MutexLock l(&mu);
    auto it = shared->find(key);
    if (it == shared->end()) {
      if (shared->size() >= kMaxInterned) return nullptr;
      it = shared->emplace(key, std::make_unique<const std::string>(BusyReason(
                                    req, free_whole, std::optional<GpuMilli>(max_free_milli))))
               .first;
    }
    out = it->second->c_str();
  }
  if (mine.size() < kMaxInterned) mine.emplace(key, out);
  return out;
}

}  // namespace

GpuFitResult CheckGpuFit(const NodeInfo& node, const GpuRequest& req) {
  if (req.empty()) return {};
  if (node.gpu_count() == 0) return {GpuFit::kNever, "node(s) had no GPUs"};
  // Fast path (most requests name no model and no memory): the node's aggregates decide.
  if (req.models.empty() && req.memory_per_gpu == GpuMemMiB(0)) {
    const int32_t needed = req.whole() ? req.count : 1;
    if (node.gpu_count() < needed) {
      return {GpuFit::kNever, absl::StrCat("node(s) had fewer than ", needed, " matching GPUs")};
    }
    const bool fits = req.whole() ? node.fully_free_gpus() >= req.count
                                  : node.max_free_milli() >= req.milli_per_gpu;
    if (fits) return {};
    const int32_t free_whole = req.whole() ? node.fully_free_gpus() : 0;
    if (const char* r = InternedBusyReason(req, free_whole, node.max_free_milli())) {
      return {GpuFit::kBusy, std::string(), r};
    }
    return {GpuFit::kBusy, BusyReason(req, free_whole, node.max_free_milli())};
  }
  const auto& gpus = node.gpus();
  int32_t of_model = 0;  // devices of the requested model, whatever their memory
  int32_t capable = 0;   // ... that also have enough device memory
  int32_t available = 0; // ... that are healthy and free enough now
  for (const GpuSlot& slot : gpus) {
    if (!ModelMatches(slot, req)) continue;
    ++of_model;
    if (!Capable(slot, req)) continue;
    ++capable;
    if (req.whole() ? slot.device.healthy && slot.fully_free() : ShareFitsNow(slot, req)) {
      ++available;
    }
  }
  const int32_t needed = req.whole() ? req.count : 1;
  if (capable < needed) {
    if (of_model == 0 && !req.models.empty()) {
      return {GpuFit::kNever, absl::StrCat("node(s) had no GPU of model ", req.ModelList())};
    }
    if (of_model >= needed) {
      return {GpuFit::kNever, "node(s) had no GPU with enough memory"};
    }
    return {GpuFit::kNever, absl::StrCat("node(s) had fewer than ", needed, " matching GPUs")};
  }
  if (available < needed) return {GpuFit::kBusy, BusyReason(req, available, std::nullopt)};
  return {};
}

std::optional<std::vector<GpuShare>> TryAllocate(const NodeInfo& node, const GpuRequest& req,
                                                 GpuSelection selection) {
  std::vector<GpuShare> out;
  if (req.empty()) return out;
  const auto& gpus = node.gpus();
  if (req.whole()) {
    out.reserve(req.count);
    for (size_t i = 0; i < gpus.size() && static_cast<int32_t>(out.size()) < req.count; ++i) {
      const GpuSlot& slot = gpus[i];
      if (Capable(slot, req) && slot.device.healthy && slot.fully_free()) {
        out.push_back(GpuShare{DeviceIndex(static_cast<int32_t>(i)), kOneGpu, slot.device.memory});
      }
    }
    if (static_cast<int32_t>(out.size()) < req.count) return std::nullopt;
    return out;
  }
  int best = -1;
  std::tuple<int64_t, int64_t> best_key;
  for (size_t i = 0; i < gpus.size(); ++i) {
    const GpuSlot& slot = gpus[i];
    if (!Capable(slot, req) || !ShareFitsNow(slot, req)) continue;
    std::tuple<int64_t, int64_t> key{(slot.milli_free - req.milli_per_gpu).value(),
                                     (slot.memory_free - req.memory_per_gpu).value()};
    if (selection == GpuSelection::kSpread) key = {-std::get<0>(key), -std::get<1>(key)};
    if (best < 0 || key < best_key) {
      best = static_cast<int>(i);
      best_key = key;
    }
  }
  if (best < 0) return std::nullopt;
  out.push_back(GpuShare{DeviceIndex(best), req.milli_per_gpu, req.memory_per_gpu});
  return out;
}

namespace {

int Quotient(int64_t free, int64_t want, int cap) {
  if (want <= 0) return cap;
  if (free <= 0) return 0;
  return static_cast<int>(std::min<int64_t>(free / want, cap));
}

}  // namespace

int CountCopies(const NodeInfo& node, const PodResources& req, int cap) {
  int n = std::min(cap, std::max(0, node.spec().max_pods - node.pod_count()));
  n = std::min(n, Quotient(node.cpu_free().value(), req.cpu.value(), cap));
  n = std::min(n, Quotient(node.memory_free().value(), req.memory.value(), cap));
  if (n == 0 || req.gpu.empty()) return n;
  if (req.gpu.whole()) {
    int free = 0;
    for (const GpuSlot& s : node.gpus()) {
      if (s.device.healthy && s.fully_free() && req.gpu.AllowsModel(s.device.model) &&
          s.device.memory >= req.gpu.memory_per_gpu) {
        ++free;
      }
    }
    return std::min(n, free / req.gpu.count);
  }
  // Shares of one GPU: place them one by one on a copy, the way the device choice would.
  NodeInfo copy = node;
  int placed = 0;
  while (placed < n) {
    std::optional<std::vector<GpuShare>> gpus = TryAllocate(copy, req.gpu);
    if (!gpus || !copy.AddPod(req, *gpus).ok()) break;
    ++placed;
  }
  return placed;
}

}  // namespace gpusched::framework

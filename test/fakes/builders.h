#pragma once

// Builders and fakes shared by tests and benchmarks (test/ may depend on anything; nothing
// depends on test/).
//
//   NodeSpec n = NodeBuilder("gpu-1").Cpu(32000).MemoryGi(256).Gpus(8, "A100", 81920).Build();
//   PodInfo p = PodBuilder("train-0").Cpu(4000).Gpus(2).Build();
//   FakeBinder binder;   // records binds; FailNext(...) makes the next Bind fail

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "scheduler/api/handle.h"
#include "scheduler/api/node_info.h"
#include "scheduler/api/pod_info.h"

namespace gpusched::testing {

class NodeBuilder {
 public:
  explicit NodeBuilder(std::string name) {
    spec_.name = NodeId(std::move(name));
    spec_.cpu = MilliCpu(32000);
    spec_.memory = MemoryBytes(int64_t{128} << 30);
  }
  NodeBuilder& Cpu(int64_t milli) { spec_.cpu = MilliCpu(milli); return *this; }
  NodeBuilder& MemoryGi(int64_t gi) { spec_.memory = MemoryBytes(gi << 30); return *this; }
  NodeBuilder& MaxPods(int32_t n) { spec_.max_pods = n; return *this; }
  NodeBuilder& Gpus(int n, std::string model = "A100", int64_t mem_mib = 81920) {
    for (int i = 0; i < n; ++i) spec_.gpus.push_back({model, GpuMemMiB(mem_mib), true, -1});
    return *this;
  }
  NodeBuilder& Unhealthy(int gpu) { spec_.gpus.at(gpu).healthy = false; return *this; }
  NodeBuilder& Label(std::string k, std::string v) { spec_.labels[k] = v; return *this; }
  NodeBuilder& Taint(std::string k, std::string v,
                     framework::TaintEffect e = framework::TaintEffect::kNoSchedule) {
    spec_.taints.push_back({std::move(k), std::move(v), e});
    return *this;
  }
  NodeBuilder& Cordoned() { spec_.unschedulable = true; return *this; }
  framework::NodeSpec Build() const { return spec_; }

 private:
  framework::NodeSpec spec_;
};

class PodBuilder {
 public:
  explicit PodBuilder(std::string name) {
    pod_.uid = PodUid(name);
    pod_.name = std::move(name);
    pod_.requests.cpu = MilliCpu(100);
    pod_.requests.memory = MemoryBytes(int64_t{256} << 20);
  }
  PodBuilder& Cpu(int64_t milli) { pod_.requests.cpu = MilliCpu(milli); return *this; }
  PodBuilder& MemoryGi(int64_t gi) { pod_.requests.memory = MemoryBytes(gi << 30); return *this; }
  PodBuilder& Gpus(int32_t n, std::string model = "") {
    pod_.requests.gpu = framework::GpuRequest::Whole(n, std::move(model));
    return *this;
  }
  PodBuilder& GpuShare(int64_t milli, int64_t mem_mib, std::string model = "") {
    pod_.requests.gpu =
        framework::GpuRequest::Share(GpuMilli(milli), GpuMemMiB(mem_mib), std::move(model));
    return *this;
  }
  PodBuilder& Priority(int32_t p) { pod_.priority = p; return *this; }
  PodBuilder& CreatedAt(int64_t unix_seconds) {
    pod_.created = absl::FromUnixSeconds(unix_seconds);
    return *this;
  }
  PodBuilder& Selector(std::string k, std::string v) { pod_.node_selector[k] = v; return *this; }
  PodBuilder& Tolerate(std::string k, std::string v) {
    pod_.tolerations.push_back({std::move(k), false, std::move(v), std::nullopt});
    return *this;
  }
  PodBuilder& Gang(std::string id, int32_t min_member, int32_t total_member = 0) {
    pod_.gang.emplace();
    pod_.gang->id = GangId(std::move(id));
    pod_.gang->min_member = min_member;
    pod_.gang->total_member = total_member;
    return *this;
  }
  PodBuilder& Label(std::string k, std::string v) { pod_.labels[k] = v; return *this; }
  PodBuilder& Annotation(std::string k, std::string v) {
    pod_.annotations[k] = v;
    return *this;
  }
  framework::PodInfo Build() const { return pod_; }

 private:
  framework::PodInfo pod_;
};

// A Binder that records what it was asked to bind.
class FakeBinder final : public framework::Binder {
 public:
  struct Bound {
    PodUid pod;
    NodeId node;
    std::vector<framework::GpuShare> gpus;
  };
  absl::Status Bind(const framework::PodInfo& pod, const NodeId& node,
                    absl::Span<const framework::GpuShare> gpus) override {
    if (!fail_next_.ok()) {
      absl::Status s = fail_next_;
      fail_next_ = absl::OkStatus();
      return s;
    }
    bound_.push_back({pod.uid, node, {gpus.begin(), gpus.end()}});
    return absl::OkStatus();
  }
  void FailNext(absl::Status s) { fail_next_ = std::move(s); }
  const std::vector<Bound>& bound() const { return bound_; }

 private:
  std::vector<Bound> bound_;
  absl::Status fail_next_;
};

}  // namespace gpusched::testing

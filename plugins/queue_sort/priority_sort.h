#pragma once

// PrioritySort: higher priority first, then older pods first, then uid (a total order, so the
// queue is deterministic). Mirrors kube-scheduler's PrioritySort. No args.

#include <memory>

#include "absl/status/statusor.h"
#include "scheduler/api/handle.h"
#include "scheduler/api/plugin.h"
#include "scheduler/api/plugin_args.h"

namespace gpusched::plugins::queue_sort {

inline constexpr std::string_view kName = "PrioritySort";

class PrioritySort final : public framework::QueueSortPlugin {
 public:
  static absl::StatusOr<std::unique_ptr<framework::Plugin>> New(const framework::PluginArgs& args,
                                                                framework::Handle& handle);
  std::string_view Name() const override { return kName; }
  bool Less(const framework::PodInfo& a, const framework::PodInfo& b) const override {
    if (a.priority != b.priority) return a.priority > b.priority;
    if (a.created != b.created) return a.created < b.created;
    return a.uid < b.uid;
  }
};

}  // namespace gpusched::plugins::queue_sort

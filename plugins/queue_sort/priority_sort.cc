#include "plugins/queue_sort/priority_sort.h"

#include "common/status_macros.h"

namespace gpusched::plugins::queue_sort {

absl::StatusOr<std::unique_ptr<framework::Plugin>> PrioritySort::New(
    const framework::PluginArgs& args, framework::Handle&) {
  RETURN_IF_ERROR(args.RejectUnknown({}));
  return std::make_unique<PrioritySort>();
}

}  // namespace gpusched::plugins::queue_sort

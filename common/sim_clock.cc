#include "common/sim_clock.h"

#include <algorithm>

namespace gpusched {

Clock::TimerId SimClock::ScheduleAfter(absl::Duration delay, Callback cb) {
  const TimerId id = next_id_++;
  const absl::Time due = now_ + std::max(delay, absl::ZeroDuration());
  timers_.emplace(std::make_pair(due, id), std::move(cb));
  due_by_id_.emplace(id, due);
  return id;
}

bool SimClock::Cancel(TimerId id) {
  auto it = due_by_id_.find(id);
  if (it == due_by_id_.end()) return false;
  timers_.erase(std::make_pair(it->second, id));
  due_by_id_.erase(it);
  return true;
}

void SimClock::AdvanceTo(absl::Time t) {
  while (!timers_.empty() && timers_.begin()->first.first <= t) {
    auto node = timers_.extract(timers_.begin());
    due_by_id_.erase(node.key().second);
    now_ = std::max(now_, node.key().first);
    node.mapped()();
  }
  now_ = std::max(now_, t);
}

absl::Time SimClock::NextTimerAt() const {
  return timers_.empty() ? absl::InfiniteFuture() : timers_.begin()->first.first;
}

}  // namespace gpusched

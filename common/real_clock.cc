#include "common/real_clock.h"

#include <algorithm>

#include "absl/time/clock.h"

namespace gpusched {

RealClock::RealClock() : thread_([this] { Loop(); }) {}

RealClock::~RealClock() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    timers_.clear();
    due_by_id_.clear();
  }
  cv_.notify_all();
  thread_.join();
}

absl::Time RealClock::Now() const { return absl::Now(); }

Clock::TimerId RealClock::ScheduleAfter(absl::Duration delay, Callback cb) {
  TimerId id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    id = next_id_++;
    const absl::Time due = absl::Now() + std::max(delay, absl::ZeroDuration());
    timers_.emplace(std::make_pair(due, id), std::move(cb));
    due_by_id_.emplace(id, due);
  }
  cv_.notify_all();
  return id;
}

bool RealClock::Cancel(TimerId id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = due_by_id_.find(id);
  if (it == due_by_id_.end()) return false;
  timers_.erase(std::make_pair(it->second, id));
  due_by_id_.erase(it);
  return true;
}

void RealClock::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (timers_.empty()) {
      cv_.wait(lock);
      continue;
    }
    const absl::Time due = timers_.begin()->first.first;
    const absl::Time now = absl::Now();
    if (due > now) {
      // Capped: a far-future timer (InfiniteDuration) would overflow the wait and spin.
      cv_.wait_for(lock, absl::ToChronoNanoseconds(std::min(due - now, absl::Hours(1))));
      continue;
    }
    auto node = timers_.extract(timers_.begin());
    due_by_id_.erase(node.key().second);
    lock.unlock();
    node.mapped()();  // run without the lock: the callback may schedule or cancel
    lock.lock();
  }
}

}  // namespace gpusched

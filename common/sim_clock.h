#pragma once

// A Clock that moves only when told to. Timers fire in (time, scheduling order): two timers due at
// the same instant run first-scheduled first, so runs are reproducible.
//
//   SimClock clock(absl::UnixEpoch());
//   clock.ScheduleAfter(absl::Seconds(5), [] { ... });
//   clock.AdvanceTo(absl::UnixEpoch() + absl::Seconds(10));  // fires the timer at t=5, ends at 10
//
// Thread-compatible: one thread drives it (the simulator's loop or a test). Callbacks run inside
// Advance/AdvanceTo and may schedule or cancel timers; a timer scheduled for a time <= the target
// fires in the same call.

#include <cstdint>
#include <map>
#include <utility>

#include "common/clock.h"

namespace gpusched {

class SimClock final : public Clock {
 public:
  explicit SimClock(absl::Time start = absl::UnixEpoch()) : now_(start) {}
  SimClock(const SimClock&) = delete;
  SimClock& operator=(const SimClock&) = delete;

  absl::Time Now() const override { return now_; }
  TimerId ScheduleAfter(absl::Duration delay, Callback cb) override;
  bool Cancel(TimerId id) override;

  // Moves time forward to `t`, firing every timer due at or before `t` in order. Moving backwards
  // is a no-op (time never decreases).
  void AdvanceTo(absl::Time t);
  void Advance(absl::Duration d) { AdvanceTo(now_ + d); }

  // The due time of the next pending timer, or absl::InfiniteFuture() if none.
  absl::Time NextTimerAt() const;
  size_t pending_timers() const { return timers_.size(); }

 private:
  // Key (due time, id): ids grow monotonically, so equal times keep scheduling order.
  std::map<std::pair<absl::Time, TimerId>, Callback> timers_;
  std::map<TimerId, absl::Time> due_by_id_;
  absl::Time now_;
  TimerId next_id_ = 1;
};

}  // namespace gpusched

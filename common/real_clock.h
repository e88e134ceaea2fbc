#pragma once

// The wall clock, for the live programs (extender, agent). Timers run on one background thread
// owned by the clock, in due order; a callback must not block for long. The destructor cancels
// pending timers and joins the thread.
//
// Thread-safe: every method may be called from any thread, callbacks included.

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include "common/clock.h"

namespace gpusched {

class RealClock final : public Clock {
 public:
  RealClock();
  ~RealClock() override;
  RealClock(const RealClock&) = delete;
  RealClock& operator=(const RealClock&) = delete;

  absl::Time Now() const override;
  TimerId ScheduleAfter(absl::Duration delay, Callback cb) override;
  bool Cancel(TimerId id) override;

 private:
  void Loop();

  std::mutex mu_;
  std::condition_variable cv_;
  // Guarded by mu_.
  std::map<std::pair<absl::Time, TimerId>, Callback> timers_;
  std::map<TimerId, absl::Time> due_by_id_;
  TimerId next_id_ = 1;
  bool stopping_ = false;
  // Constant after construction; started last.
  std::thread thread_;
};

}  // namespace gpusched

#pragma once

// The injected source of time (design G13). The scheduler core and plugins read time only through
// a Clock, so the simulator and tests replay exactly:
//
//   SimClock clock(absl::FromUnixSeconds(0));
//   clock.ScheduleAfter(absl::Seconds(30), [&] { ReleaseGang(); });
//   clock.Advance(absl::Seconds(30));   // runs ReleaseGang() on this thread
//
// RealClock (real_clock.h) reads the wall clock and runs timers on its own thread.

#include <cstdint>

#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"

namespace gpusched {

class Clock {
 public:
  using TimerId = uint64_t;
  using Callback = absl::AnyInvocable<void()>;

  virtual ~Clock() = default;

  // The current time. Monotonic non-decreasing for one Clock.
  virtual absl::Time Now() const = 0;

  // Runs `cb` once, `delay` from Now() (a negative delay counts as zero). Returns an id for
  // Cancel; ids are never 0 and never reused by one Clock. Which thread runs `cb` is the
  // implementation's contract (SimClock: the thread calling Advance; RealClock: its timer thread).
  virtual TimerId ScheduleAfter(absl::Duration delay, Callback cb) = 0;

  // Cancels a timer that has not fired yet. Returns false if it already fired, was cancelled, or
  // never existed. Idempotent.
  virtual bool Cancel(TimerId id) = 0;
};

}  // namespace gpusched

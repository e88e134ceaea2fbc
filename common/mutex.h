#pragma once

// The project's mutex for live code: a reader/writer lock with Abseil's thread-safety
// annotations (clang's -Wthread-safety checks the ABSL_GUARDED_BY contracts against it).
//
//   mutable Mutex mu_;
//   int hits_ ABSL_GUARDED_BY(mu_) = 0;
//   void Hit() { MutexLock l(&mu_); ++hits_; }
//   int hits() const { ReaderMutexLock l(&mu_); return hits_; }
//
// Why not absl::Mutex: Debian's libabsl is not built with ThreadSanitizer, so absl::Mutex's
// synchronization is invisible to it and every guarded access would be reported as a race in the
// TSan build of the concurrency tests. This wraps std::shared_mutex, whose pthread calls TSan
// intercepts, so the same code is checked for real. Not reentrant; no priority or fairness
// promises beyond the platform's.

#include <chrono>
#include <condition_variable>
#include <shared_mutex>

#include "absl/base/thread_annotations.h"

namespace gpusched {

class ABSL_LOCKABLE Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }
  void ReaderLock() ABSL_SHARED_LOCK_FUNCTION() { mu_.lock_shared(); }
  void ReaderUnlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock_shared(); }

 private:
  std::shared_mutex mu_;
};

class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

class ABSL_SCOPED_LOCKABLE ReaderMutexLock {
 public:
  explicit ReaderMutexLock(Mutex* mu) ABSL_SHARED_LOCK_FUNCTION(mu) : mu_(mu) { mu_->ReaderLock(); }
  ~ReaderMutexLock() ABSL_UNLOCK_FUNCTION() { mu_->ReaderUnlock(); }
  ReaderMutexLock(const ReaderMutexLock&) = delete;
  ReaderMutexLock& operator=(const ReaderMutexLock&) = delete;

 private:
  Mutex* const mu_;
};

// A condition variable for Mutex (exclusive holders only), for the few places that wait for a
// state change (a stream waiting for the next message, an owner waiting for callbacks to end).
//
//   MutexLock l(&mu_);
//   while (!ready_) cv_.Wait(&mu_);              // or WaitWithTimeout(&mu_, absl::Seconds(1))
//   ...elsewhere, with mu_ held or not:  cv_.SignalAll();
//
// Built on std::condition_variable_any, so ThreadSanitizer sees the hand-offs.
class CondVar {
 public:
  void Wait(Mutex* mu) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    Adapter a{mu};
    cv_.wait(a);
  }
  // False when the timeout passed without a signal (spurious wake-ups return true: re-check).
  bool WaitWithTimeout(Mutex* mu, std::chrono::nanoseconds timeout) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    Adapter a{mu};
    return cv_.wait_for(a, timeout) == std::cv_status::no_timeout;
  }
  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  // BasicLockable over a Mutex the caller already holds.
  struct Adapter {
    Mutex* mu;
    void lock() ABSL_NO_THREAD_SAFETY_ANALYSIS { mu->Lock(); }
    void unlock() ABSL_NO_THREAD_SAFETY_ANALYSIS { mu->Unlock(); }
  };
  std::condition_variable_any cv_;
};

}  // namespace gpusched

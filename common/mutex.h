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

}  // namespace gpusched

#pragma once

// A bounded worker pool that runs one loop over [0, n) in chunks, like kube-scheduler's
// parallelize.Until. The calling thread works too, so Parallelizer(2) uses one extra thread.
//
//   Parallelizer par(2);
//   std::vector<int> out(n);
//   par.For(n, 128, [&](size_t begin, size_t end) {
//     for (size_t i = begin; i < end; ++i) out[i] = Work(i);   // each index written once
//   });
//
// For() may be called from any thread. The pool serves one loop at a time: a loop that finds it
// busy runs on its caller's thread alone instead of waiting (concurrent extender requests each
// keep their own thread). `fn` runs concurrently on disjoint chunks and must be thread-safe for
// that. For() returns after every chunk is done.
//
// How a loop meets the workers. A request runs a few short loops back to back (tens to hundreds
// of microseconds each), and waking a sleeping thread can cost as much as a loop on a busy or
// virtualized machine. So:
//  - the caller never waits for a worker to wake up: it publishes the loop, works through the
//    chunks itself, closes the loop, and then waits only for workers that joined it and are
//    still inside a chunk (joined_);
//  - a worker joins by counting itself in joined_ and then checking that the loop is still
//    open (both sequentially consistent, so either the caller sees the worker or the worker
//    sees the loop closed, and a late worker never touches a loop that has returned);
//  - an idle worker watches for the next loop for a short while before it sleeps on a
//    condition variable, and the caller notifies only when a worker sleeps.

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"

namespace gpusched::runtime {

class Parallelizer {
 public:
  // `parallelism` threads in all (the caller included); values < 1 mean 1 (no workers).
  explicit Parallelizer(int parallelism);
  ~Parallelizer();
  Parallelizer(const Parallelizer&) = delete;
  Parallelizer& operator=(const Parallelizer&) = delete;

  void For(size_t n, size_t chunk, absl::FunctionRef<void(size_t, size_t)> fn);
  int parallelism() const { return static_cast<int>(workers_.size()) + 1; }

 private:
  void WorkerLoop();
  void RunChunks();

  std::mutex mu_;  // for the sleepers' condition variable
  std::condition_variable work_cv_;
  // Counts published loops; guarded by mu_ for sleepers, mirrored in published_ for watchers.
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<uint64_t> published_{0};
  std::atomic<int> sleepers_{0};  // workers in work_cv_.wait
  // The current loop: written by its caller while no worker can be inside it (joined_ is 0 and
  // open_ false), read by workers that joined while open_ was true.
  const absl::FunctionRef<void(size_t, size_t)>* fn_ = nullptr;
  size_t n_ = 0;
  size_t chunk_ = 1;
  std::atomic<size_t> next_{0};
  std::atomic<bool> open_{false};
  std::atomic<int> joined_{0};
  std::atomic<bool> in_use_{false};  // a caller owns the pool's current loop
  // Constant after construction.
  std::vector<std::thread> workers_;
};

}  // namespace gpusched::runtime

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

#include <atomic>
#include <condition_variable>
#include <cstddef>
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

  std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  // Guarded by mu_ (a std::mutex: the condition variables need one).
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  int busy_workers_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // The current job; written under mu_ before generation_ advances, read by workers after.
  const absl::FunctionRef<void(size_t, size_t)>* fn_ = nullptr;
  size_t n_ = 0;
  size_t chunk_ = 1;
  std::atomic<size_t> next_{0};
  // generation_, readable without mu_: an idle worker watches it for a short while before it
  // sleeps on work_cv_ (a request runs several loops back to back, and waking a sleeping thread
  // costs more than one of them). sleepers_ counts the workers in work_cv_.wait, so a loop
  // notifies only when somebody sleeps.
  std::atomic<uint64_t> published_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> in_use_{false};  // a caller owns the pool's current loop
  // Constant after construction.
  std::vector<std::thread> workers_;
};

}  // namespace gpusched::runtime

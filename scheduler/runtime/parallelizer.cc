#include "scheduler/runtime/parallelizer.h"

#include <algorithm>

namespace gpusched::runtime {

namespace {
// About 30-60 us of watching for the next loop before sleeping (counted in pause instructions,
// not time: the scheduler core reads no clock of its own).
constexpr int kIdleSpins = 2000;
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}
}  // namespace

Parallelizer::Parallelizer(int parallelism) {
  for (int i = 1; i < parallelism; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

Parallelizer::~Parallelizer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    ++generation_;
    published_.store(generation_, std::memory_order_seq_cst);
  }
  work_cv_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void Parallelizer::RunChunks() {
  for (;;) {
    const size_t begin = next_.fetch_add(chunk_, std::memory_order_relaxed);
    if (begin >= n_) return;
    (*fn_)(begin, std::min(n_, begin + chunk_));
  }
}

void Parallelizer::For(size_t n, size_t chunk, absl::FunctionRef<void(size_t, size_t)> fn) {
  chunk = std::max<size_t>(chunk, 1);
  // A loop that is small, or that finds the pool busy with another caller's loop, runs on the
  // calling thread alone: concurrent requests never wait for each other here.
  if (workers_.empty() || n <= chunk || in_use_.exchange(true, std::memory_order_acquire)) {
    for (size_t b = 0; b < n; b += chunk) fn(b, std::min(n, b + chunk));
    return;
  }
  // No worker is inside a loop now (the previous caller waited for joined_ to reach 0 before it
  // released in_use_), so the loop's fields may be written.
  fn_ = &fn;
  n_ = n;
  chunk_ = chunk;
  next_.store(0, std::memory_order_relaxed);
  open_.store(true, std::memory_order_seq_cst);
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++generation_;
    published_.store(generation_, std::memory_order_seq_cst);
  }
  if (sleepers_.load(std::memory_order_seq_cst) > 0) work_cv_.notify_all();
  RunChunks();
  // Every chunk is taken. Close the loop, then wait for the workers still inside it.
  open_.store(false, std::memory_order_seq_cst);
  while (joined_.load(std::memory_order_seq_cst) != 0) CpuRelax();
  fn_ = nullptr;
  in_use_.store(false, std::memory_order_release);
}

void Parallelizer::WorkerLoop() {
  uint64_t seen = 0;
  for (;;) {
    // Watch for a new loop for a while, then sleep until one is published.
    for (int spin = 0; spin < kIdleSpins && published_.load(std::memory_order_acquire) == seen;
         ++spin) {
      CpuRelax();
    }
    if (published_.load(std::memory_order_acquire) == seen) {
      std::unique_lock<std::mutex> lock(mu_);
      // Counted under mu_ before the predicate is checked: a loop published after this either
      // is seen by the predicate or finds sleepers_ > 0 and notifies.
      sleepers_.fetch_add(1, std::memory_order_seq_cst);
      work_cv_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      sleepers_.fetch_sub(1, std::memory_order_seq_cst);
      if (stopping_) return;
    }
    seen = published_.load(std::memory_order_acquire);
    joined_.fetch_add(1, std::memory_order_seq_cst);
    if (open_.load(std::memory_order_seq_cst)) RunChunks();
    joined_.fetch_sub(1, std::memory_order_seq_cst);
  }
}

}  // namespace gpusched::runtime

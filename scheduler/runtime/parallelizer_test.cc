#include "scheduler/runtime/parallelizer.h"

#include <atomic>
#include <vector>

#include "gtest/gtest.h"

namespace gpusched::runtime {
namespace {

TEST(ParallelizerTest, VisitsEveryIndexExactlyOnce) {
  for (int parallelism : {1, 2, 4}) {
    Parallelizer par(parallelism);
    for (size_t n : {0u, 1u, 7u, 64u, 1000u, 5003u}) {
      for (size_t chunk : {1u, 16u, 256u}) {
        SCOPED_TRACE(testing::Message() << "parallelism " << parallelism << " n " << n
                                        << " chunk " << chunk);
        std::vector<std::atomic<int>> hits(n);
        par.For(n, chunk, [&](size_t b, size_t e) {
          ASSERT_LE(e, n);
          ASSERT_LT(b, e);
          for (size_t i = b; i < e; ++i) hits[i].fetch_add(1);
        });
        for (size_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "index " << i;
      }
    }
  }
}

TEST(ParallelizerTest, ManyConsecutiveLoopsFinish) {
  Parallelizer par(3);
  std::atomic<int64_t> sum{0};
  for (int round = 0; round < 2000; ++round) {
    par.For(100, 10, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; ++i) sum.fetch_add(static_cast<int64_t>(i));
    });
  }
  EXPECT_EQ(sum.load(), 2000 * 4950);
}

TEST(ParallelizerTest, UsesWorkerThreadsWhenAllowed) {
  Parallelizer par(2);
  EXPECT_EQ(par.parallelism(), 2);
  EXPECT_EQ(Parallelizer(0).parallelism(), 1);
}

}  // namespace
}  // namespace gpusched::runtime

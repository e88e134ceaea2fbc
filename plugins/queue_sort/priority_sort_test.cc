#include "plugins/queue_sort/priority_sort.h"

#include <algorithm>
#include <numeric>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/api/pod_info.h"
#include "test/fakes/builders.h"

namespace gpusched::plugins::queue_sort {
namespace {

using framework::PodInfo;
using testing::PodBuilder;

PodInfo Pod(std::string uid, int32_t priority, int64_t created_s) {
  return PodBuilder(std::move(uid)).Priority(priority).CreatedAt(created_s).Build();
}

std::vector<std::string> Uids(const std::vector<PodInfo>& pods) {
  std::vector<std::string> out;
  for (const PodInfo& p : pods) out.push_back(p.uid.str());
  return out;
}

TEST(PrioritySort, LessOrdersByPriorityThenAgeThenUid) {
  struct Case {
    std::string name;
    PodInfo a;
    PodInfo b;
    bool want_a_before_b;
    bool want_b_before_a;
  };
  const std::vector<Case> cases = {
      {"higher priority first", Pod("z", 10, 100), Pod("a", 1, 0), true, false},
      {"negative priority last", Pod("a", -5, 0), Pod("b", 0, 100), false, true},
      {"same priority, older first", Pod("z", 5, 10), Pod("a", 5, 20), true, false},
      {"priority beats age", Pod("young", 6, 1000), Pod("old", 5, 0), true, false},
      {"same priority and age, uid ascending", Pod("a", 5, 10), Pod("b", 5, 10), true, false},
      {"identical keys are equivalent", Pod("a", 5, 10), Pod("a", 5, 10), false, false},
  };
  const PrioritySort sort;
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    EXPECT_EQ(sort.Less(tc.a, tc.b), tc.want_a_before_b);
    EXPECT_EQ(sort.Less(tc.b, tc.a), tc.want_b_before_a);
  }
}

TEST(PrioritySort, LessIsAStrictWeakOrdering) {
  const std::vector<PodInfo> pods = {
      Pod("a", 0, 0),  Pod("b", 0, 0),   Pod("c", 0, 5), Pod("d", 7, 5),
      Pod("e", 7, 1),  Pod("f", -1, 0),  Pod("a", 0, 0),  // duplicate of the first
  };
  const PrioritySort sort;
  for (size_t i = 0; i < pods.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("i=", i));
    EXPECT_FALSE(sort.Less(pods[i], pods[i])) << "irreflexive";
    for (size_t j = 0; j < pods.size(); ++j) {
      EXPECT_FALSE(sort.Less(pods[i], pods[j]) && sort.Less(pods[j], pods[i]))
          << "asymmetric: " << i << ", " << j;
      for (size_t k = 0; k < pods.size(); ++k) {
        if (sort.Less(pods[i], pods[j]) && sort.Less(pods[j], pods[k])) {
          EXPECT_TRUE(sort.Less(pods[i], pods[k])) << "transitive: " << i << j << k;
        }
      }
    }
  }
}

TEST(PrioritySort, SortingAnyPermutationGivesTheSameQueue) {
  const std::vector<PodInfo> pods = {
      Pod("batch-b", 0, 20), Pod("batch-a", 0, 20), Pod("old-batch", 0, 5),
      Pod("prod", 100, 50),  Pod("best-effort", -10, 0), Pod("mid", 50, 30),
  };
  const std::vector<std::string> want = {"prod",    "mid",     "old-batch",
                                         "batch-a", "batch-b", "best-effort"};
  const PrioritySort sort;
  std::vector<size_t> order(pods.size());
  std::iota(order.begin(), order.end(), 0);
  int permutations = 0;
  do {
    std::vector<PodInfo> shuffled;
    for (size_t i : order) shuffled.push_back(pods[i]);
    std::sort(shuffled.begin(), shuffled.end(),
              [&](const PodInfo& a, const PodInfo& b) { return sort.Less(a, b); });
    ASSERT_EQ(Uids(shuffled), want) << "permutation " << permutations;
    ++permutations;
  } while (std::next_permutation(order.begin(), order.end()));
  EXPECT_EQ(permutations, 720);
}

TEST(PrioritySort, NameMatchesTheRegisteredName) {
  // New (with and without args) is covered through the registry in node_resources_fit_test.cc.
  EXPECT_EQ(PrioritySort().Name(), "PrioritySort");
}

}  // namespace
}  // namespace gpusched::plugins::queue_sort

#include "scheduler/api/cycle_state.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gpusched::framework {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct FitState final : StateData {
  int64_t cpu = 0;
  std::vector<std::string> notes;
  std::unique_ptr<StateData> Clone() const override { return std::make_unique<FitState>(*this); }
};

struct OtherState final : StateData {
  std::string value;
  std::unique_ptr<StateData> Clone() const override {
    return std::make_unique<OtherState>(*this);
  }
};

inline constexpr StateKey<FitState> kFitKey{"NodeResourcesFit/pre-filter"};
inline constexpr StateKey<OtherState> kOtherKey{"Other/pre-score"};
// The same name as kFitKey but another type.
inline constexpr StateKey<OtherState> kFitKeyWrongType{"NodeResourcesFit/pre-filter"};

std::unique_ptr<FitState> Fit(int64_t cpu) {
  auto s = std::make_unique<FitState>();
  s->cpu = cpu;
  return s;
}

TEST(CycleStateTest, ReadReturnsWhatWasWritten) {
  CycleState state;
  state.Write(kFitKey, Fit(4000));
  auto other = std::make_unique<OtherState>();
  other->value = "x";
  state.Write(kOtherKey, std::move(other));

  const absl::StatusOr<const FitState*> fit = state.Read(kFitKey);
  ASSERT_TRUE(fit.ok()) << fit.status();
  EXPECT_EQ((*fit)->cpu, 4000);
  const absl::StatusOr<const OtherState*> got_other = state.Read(kOtherKey);
  ASSERT_TRUE(got_other.ok()) << got_other.status();
  EXPECT_EQ((*got_other)->value, "x");
}

TEST(CycleStateTest, WriteReplacesAnEarlierValue) {
  CycleState state;
  state.Write(kFitKey, Fit(1));
  state.Write(kFitKey, Fit(2));
  EXPECT_EQ((*state.Read(kFitKey))->cpu, 2);
}

TEST(CycleStateTest, KeysAreComparedByNameNotAddress) {
  CycleState state;
  state.Write(kFitKey, Fit(7));
  const std::string name(kFitKey.name);  // a different buffer with the same text
  const StateKey<FitState> same_name{name};
  ASSERT_TRUE(state.Contains(same_name));
  EXPECT_EQ((*state.Read(same_name))->cpu, 7);
}

TEST(CycleStateTest, ReadOfMissingKeyIsNotFoundNamingTheKey) {
  CycleState state;
  state.Write(kOtherKey, std::make_unique<OtherState>());
  const absl::StatusOr<const FitState*> got = state.Read(kFitKey);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(got.status().message(), HasSubstr("NodeResourcesFit/pre-filter"));

  const absl::StatusOr<FitState*> mutable_got = state.ReadMutable(kFitKey);
  ASSERT_FALSE(mutable_got.ok());
  EXPECT_EQ(mutable_got.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(mutable_got.status().message(), HasSubstr("NodeResourcesFit/pre-filter"));
}

TEST(CycleStateTest, ReadWithAnotherTypeIsInternal) {
  CycleState state;
  state.Write(kFitKey, Fit(1));
  const absl::StatusOr<const OtherState*> got = state.Read(kFitKeyWrongType);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(got.status().message(), HasSubstr("NodeResourcesFit/pre-filter"));
  EXPECT_EQ(state.ReadMutable(kFitKeyWrongType).status().code(), absl::StatusCode::kInternal);
}

TEST(CycleStateTest, ContainsAndErase) {
  CycleState state;
  EXPECT_FALSE(state.Contains(kFitKey));
  state.Write(kFitKey, Fit(1));
  state.Write(kOtherKey, std::make_unique<OtherState>());
  EXPECT_TRUE(state.Contains(kFitKey));
  EXPECT_TRUE(state.Contains(kOtherKey));

  state.Erase(kFitKey);
  EXPECT_FALSE(state.Contains(kFitKey));
  EXPECT_EQ(state.Read(kFitKey).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(state.Contains(kOtherKey));

  state.Erase(kFitKey);  // erasing an absent key is harmless
  EXPECT_FALSE(state.Contains(kFitKey));
}

TEST(CycleStateTest, ReadMutableModifiesTheStoredValue) {
  CycleState state;
  state.Write(kFitKey, Fit(1));
  absl::StatusOr<FitState*> m = state.ReadMutable(kFitKey);
  ASSERT_TRUE(m.ok()) << m.status();
  (*m)->cpu = 99;
  (*m)->notes.push_back("changed");
  const FitState* read = *state.Read(kFitKey);
  EXPECT_EQ(read, *m);
  EXPECT_EQ(read->cpu, 99);
  EXPECT_THAT(read->notes, ElementsAre("changed"));
}

TEST(CycleStateTest, CloneIsADeepCopy) {
  CycleState state;
  auto fit = Fit(10);
  fit->notes = {"a"};
  state.Write(kFitKey, std::move(fit));
  auto other = std::make_unique<OtherState>();
  other->value = "orig";
  state.Write(kOtherKey, std::move(other));

  std::unique_ptr<CycleState> clone = state.Clone();
  ASSERT_NE(clone, nullptr);
  ASSERT_TRUE(clone->Contains(kFitKey));
  ASSERT_TRUE(clone->Contains(kOtherKey));
  EXPECT_NE(*clone->Read(kFitKey), *state.Read(kFitKey));  // distinct objects
  EXPECT_EQ((*clone->Read(kFitKey))->cpu, 10);
  EXPECT_EQ((*clone->Read(kOtherKey))->value, "orig");

  // Modifying the clone leaves the original alone...
  (*clone->ReadMutable(kFitKey))->cpu = 20;
  (*clone->ReadMutable(kFitKey))->notes.push_back("b");
  (*clone->ReadMutable(kOtherKey))->value = "changed";
  clone->Erase(kOtherKey);
  EXPECT_EQ((*state.Read(kFitKey))->cpu, 10);
  EXPECT_THAT((*state.Read(kFitKey))->notes, ElementsAre("a"));
  EXPECT_EQ((*state.Read(kOtherKey))->value, "orig");
  EXPECT_TRUE(state.Contains(kOtherKey));

  // ...and the other way round.
  (*state.ReadMutable(kFitKey))->cpu = 30;
  EXPECT_EQ((*clone->Read(kFitKey))->cpu, 20);
}

TEST(CycleStateTest, CloneKeepsTypesForTypedReads) {
  CycleState state;
  state.Write(kFitKey, Fit(5));
  std::unique_ptr<CycleState> clone = state.Clone();
  EXPECT_EQ(clone->Read(kFitKeyWrongType).status().code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(clone->Read(kFitKey).ok());
}

TEST(CycleStateTest, CloneOfEmptyStateIsEmpty) {
  CycleState state;
  std::unique_ptr<CycleState> clone = state.Clone();
  EXPECT_FALSE(clone->Contains(kFitKey));
}

TEST(CycleStateTest, DeviceAssignmentRoundTrips) {
  CycleState state;
  auto a = std::make_unique<DeviceAssignment>();
  a->shares = {GpuShare{DeviceIndex(0), kOneGpu, GpuMemMiB(81920)},
               GpuShare{DeviceIndex(3), kOneGpu, GpuMemMiB(81920)}};
  a->chosen_by = "GpuTopology";
  const std::vector<GpuShare> want = a->shares;
  state.Write(kDeviceAssignmentKey, std::move(a));

  EXPECT_EQ(kDeviceAssignmentKey.name, "framework/device-assignment");
  const absl::StatusOr<const DeviceAssignment*> got = state.Read(kDeviceAssignmentKey);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)->shares, want);
  EXPECT_EQ((*got)->chosen_by, "GpuTopology");

  std::unique_ptr<CycleState> clone = state.Clone();
  const absl::StatusOr<const DeviceAssignment*> cloned = clone->Read(kDeviceAssignmentKey);
  ASSERT_TRUE(cloned.ok()) << cloned.status();
  EXPECT_EQ((*cloned)->shares, want);
  EXPECT_EQ((*cloned)->chosen_by, "GpuTopology");
}

}  // namespace
}  // namespace gpusched::framework

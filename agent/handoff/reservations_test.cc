#include "agent/handoff/reservations.h"

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/sim_clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gpusched::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

const absl::Time kStart = absl::FromUnixSeconds(1'000'000);

std::vector<GpuRef> TwoGpus() {
  return {{0, "GPU-a", 40960, true}, {1, "GPU-b", 40960, true}};
}

Reservation Pod(std::string uid, std::vector<ShareSpec> shares) {
  return Reservation{uid, "ml", "pod-" + uid, std::move(shares)};
}

// Milli device IDs of one GPU, as the device plugin names them.
std::vector<std::string> MilliIds(const std::string& uuid, int first, int count) {
  std::vector<std::string> ids;
  for (int i = first; i < first + count; ++i) ids.push_back(absl::StrCat(uuid, "-m", i));
  return ids;
}

DeviceClaim MilliClaim(int gpu, const std::string& uuid, int first, int count) {
  return DeviceClaim{{{gpu, count, 0}}, MilliIds(uuid, first, count),
                     absl::StrCat(count, " gpusched.io/gpu-milli")};
}

std::map<std::string, AllocationView> ByUid(const std::vector<AllocationView>& views) {
  std::map<std::string, AllocationView> out;
  for (const AllocationView& v : views) out.emplace(v.reservation.pod_uid, v);
  return out;
}

// Milli and memory per GPU over every entry of the book.
std::map<int, std::pair<int64_t, int64_t>> Usage(const ReservationBook& book) {
  std::map<int, std::pair<int64_t, int64_t>> used;
  for (const AllocationView& v : book.Snapshot()) {
    for (const ShareSpec& s : v.reservation.shares) {
      used[s.gpu].first += s.milli;
      used[s.gpu].second += s.memory_mib;
    }
  }
  return used;
}

class ReservationBookTest : public ::testing::Test {
 protected:
  ReservationBookTest()
      : clock_(kStart),
        book_(TwoGpus(), clock_,
              {.reserved_ttl = absl::Minutes(10),
               .on_change = [this] { ++changes_; },
               .node_name = "node-1"}) {}

  SimClock clock_;
  int changes_ = 0;
  ReservationBook book_;
};

// ---------------------------------------------------------------------------------------------
// Reserve: capacity, idempotency, malformed input.

TEST_F(ReservationBookTest, ReserveFillsAGpuToExactly1000MilliThenNamesTheFullGpu) {
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(book_.Reserve(Pod(absl::StrCat("u", i), {{0, 250, 1024}})).ok());
  }
  absl::Status s = book_.Reserve(Pod("u4", {{0, 1, 0}}));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("GPU 0 (GPU-a)"));
  EXPECT_THAT(s.message(), HasSubstr("0 milli-GPU free"));
  // The other GPU is untouched.
  EXPECT_TRUE(book_.Reserve(Pod("u5", {{1, 1000, 0}})).ok());
  EXPECT_EQ(Usage(book_)[0].first, 1000);
}

TEST_F(ReservationBookTest, ReserveRefusesMemoryBeyondTheGpu) {
  ASSERT_TRUE(book_.Reserve(Pod("a", {{1, 100, 40000}})).ok());
  absl::Status s = book_.Reserve(Pod("b", {{1, 100, 961}}));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("GPU 1 (GPU-b) has 960 MiB free"));
  EXPECT_TRUE(book_.Reserve(Pod("b", {{1, 100, 960}})).ok());
}

TEST_F(ReservationBookTest, WholeGpuAndSharesOfTheSameGpuConflict) {
  ASSERT_TRUE(book_.Reserve(Pod("whole", {{0, 1000, 40960}, {1, 1000, 40960}})).ok());
  EXPECT_EQ(book_.Reserve(Pod("share", {{1, 10, 0}})).code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(book_.Release("whole").ok());
  EXPECT_TRUE(book_.Reserve(Pod("share", {{1, 10, 0}})).ok());
}

TEST_F(ReservationBookTest, ReserveIsIdempotentForTheSameShares) {
  ASSERT_TRUE(book_.Reserve(Pod("a", {{0, 600, 100}})).ok());
  const int after_first = changes_;
  ASSERT_TRUE(book_.Reserve(Pod("a", {{0, 600, 100}})).ok());
  EXPECT_EQ(changes_, after_first);  // nothing changed
  EXPECT_THAT(book_.Snapshot(), SizeIs(1));
  // Counted once: another 400 still fits.
  EXPECT_TRUE(book_.Reserve(Pod("b", {{0, 400, 0}})).ok());
}

TEST_F(ReservationBookTest, ADifferentShapeReplacesAReservationCountingItsOldSharesAsFree) {
  ASSERT_TRUE(book_.Reserve(Pod("a", {{0, 800, 0}})).ok());
  ASSERT_TRUE(book_.Reserve(Pod("a", {{0, 1000, 0}})).ok());  // 800 of its own are not "taken"
  auto snap = book_.Snapshot();
  ASSERT_THAT(snap, SizeIs(1));
  EXPECT_THAT(snap[0].reservation.shares, ElementsAre(ShareSpec{0, 1000, 0}));
  // A replacement that does not fit leaves the old one in place.
  ASSERT_TRUE(book_.Reserve(Pod("a", {{1, 500, 0}})).ok());
  ASSERT_TRUE(book_.Reserve(Pod("b", {{0, 700, 0}})).ok());
  EXPECT_EQ(book_.Reserve(Pod("a", {{0, 400, 0}})).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(ByUid(book_.Snapshot()).at("a").reservation.shares,
              ElementsAre(ShareSpec{1, 500, 0}));
}

TEST_F(ReservationBookTest, ReserveRefusesANewShapeOnceAllocated) {
  ASSERT_TRUE(book_.Reserve(Pod("a", {{0, 250, 0}})).ok());
  ASSERT_TRUE(book_.Allocate({MilliClaim(0, "GPU-a", 0, 250)}).ok());
  absl::Status s = book_.Reserve(Pod("a", {{0, 500, 0}}));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("already allocated"));
  // The same shares again are still fine (the extender retrying).
  EXPECT_TRUE(book_.Reserve(Pod("a", {{0, 250, 0}})).ok());
}

TEST_F(ReservationBookTest, ReserveRejectsMalformedRequestsNamingTheField) {
  struct Case {
    std::string name;
    Reservation r;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"empty uid", {"", "ml", "p", {{0, 100, 0}}}, "pod_uid: empty"},
      {"no shares", {"u", "ml", "p", {}}, "shares: empty"},
      {"zero milli, no memory", {"u", "ml", "p", {{0, 0, 0}}}, "shares[0].milli: 0 is outside 1..1000"},
      {"too much milli", {"u", "ml", "p", {{0, 1001, 0}}}, "shares[0].milli: 1001"},
      {"negative memory", {"u", "ml", "p", {{0, 10, -1}}}, "shares[0].memory_mib: -1 is negative"},
      {"gpu twice", {"u", "ml", "p", {{0, 10, 0}, {1, 10, 0}, {0, 5, 0}}},
       "shares[2].gpu: GPU 0 appears more than once"},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    absl::Status s = book_.Reserve(tc.r);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(s.message(), HasSubstr(tc.message));
  }
  EXPECT_THAT(book_.Snapshot(), IsEmpty());
  EXPECT_EQ(changes_, 0);
}

// gpusched.io/gpu-memory alone is a memory-only share: milli 0, memory counted.
TEST_F(ReservationBookTest, ReserveTakesAMemoryOnlyShare) {
  ASSERT_TRUE(book_.Reserve(Pod("mem", {{0, 0, 4096}})).ok());
  ASSERT_EQ(book_.Snapshot().size(), 1u);
  EXPECT_EQ(book_.Snapshot()[0].reservation.shares[0], (ShareSpec{0, 0, 4096}));
  // Its memory counts against the GPU's.
  absl::Status s = book_.Reserve(Pod("big", {{0, 100, 40000}}));  // fits alone (40960)
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(ReservationBookTest, ReserveRefusesUnknownAndUnhealthyGpus) {
  absl::Status s = book_.Reserve(Pod("a", {{7, 100, 0}}));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("shares[0].gpu: GPU 7 is not on node node-1"));

  auto gpus = TwoGpus();
  gpus[1].healthy = false;
  book_.SetGpus(gpus);
  s = book_.Reserve(Pod("a", {{1, 100, 0}}));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("GPU 1 (GPU-b) is unhealthy"));
}

TEST_F(ReservationBookTest, SetGpusKeepsExistingReservations) {
  ASSERT_TRUE(book_.Reserve(Pod("a", {{1, 100, 0}})).ok());
  auto gpus = TwoGpus();
  gpus[1].healthy = false;
  book_.SetGpus(gpus);
  EXPECT_THAT(book_.Snapshot(), SizeIs(1));
  EXPECT_FALSE(book_.Gpus()[1].healthy);
}

TEST_F(ReservationBookTest, ReleaseIsIdempotentAndFreesCapacity) {
  ASSERT_TRUE(book_.Reserve(Pod("a", {{0, 1000, 0}})).ok());
  EXPECT_TRUE(book_.Release("a").ok());
  const int after = changes_;
  EXPECT_TRUE(book_.Release("a").ok());
  EXPECT_TRUE(book_.Release("never-seen").ok());
  EXPECT_EQ(changes_, after);
  EXPECT_TRUE(book_.Reserve(Pod("b", {{0, 1000, 0}})).ok());
}

TEST_F(ReservationBookTest, SnapshotIsSortedByPodUid) {
  for (std::string uid : {"m", "c", "x", "a"}) {
    ASSERT_TRUE(book_.Reserve(Pod(uid, {{1, 10, 0}})).ok());
  }
  std::vector<std::string> uids;
  for (const AllocationView& v : book_.Snapshot()) uids.push_back(v.reservation.pod_uid);
  EXPECT_THAT(uids, ElementsAre("a", "c", "m", "x"));
}

// ---------------------------------------------------------------------------------------------
// TTL of reservations whose pod never arrives.

TEST_F(ReservationBookTest, ReservationsNotAllocatedWithinTheTtlAreDropped) {
  ASSERT_TRUE(book_.Reserve(Pod("old", {{0, 1000, 0}})).ok());
  clock_.Advance(absl::Minutes(5));
  ASSERT_TRUE(book_.Reserve(Pod("young", {{1, 500, 0}})).ok());
  ASSERT_TRUE(book_.Reserve(Pod("later", {{1, 500, 0}})).ok());
  auto got = book_.Allocate({MilliClaim(1, "GPU-b", 0, 500)});  // matches "young", the oldest
  ASSERT_TRUE(got.ok());
  EXPECT_EQ((*got)[0].reservation.pod_uid, "young");
  clock_.Advance(absl::Minutes(5) - absl::Nanoseconds(1));
  EXPECT_EQ(book_.ExpireReservations(), 0);
  clock_.Advance(absl::Nanoseconds(1));
  const int before = changes_;
  EXPECT_EQ(book_.ExpireReservations(), 1);  // "old"
  EXPECT_EQ(changes_, before + 1);
  EXPECT_THAT(ByUid(book_.Snapshot()), SizeIs(2));
  clock_.Advance(absl::Hours(1));
  EXPECT_EQ(book_.ExpireReservations(), 1);  // "later"; "young" was allocated: no TTL
  auto left = ByUid(book_.Snapshot());
  ASSERT_THAT(left, SizeIs(1));
  EXPECT_EQ(left.begin()->first, "young");
  EXPECT_EQ(left.begin()->second.state, AllocState::kAllocated);
}

TEST_F(ReservationBookTest, ExpiredReservationsFreeCapacityWithoutASweep) {
  ASSERT_TRUE(book_.Reserve(Pod("old", {{0, 1000, 0}})).ok());
  EXPECT_EQ(book_.Reserve(Pod("new", {{0, 1000, 0}})).code(),
            absl::StatusCode::kFailedPrecondition);
  clock_.Advance(absl::Minutes(10));
  EXPECT_THAT(book_.Pending(), IsEmpty());  // already invisible to the device plugin
  EXPECT_TRUE(book_.Reserve(Pod("new", {{0, 1000, 0}})).ok());
  EXPECT_THAT(ByUid(book_.Snapshot()), SizeIs(1));
}

TEST_F(ReservationBookTest, PendingListsReservationsOldestFirst) {
  ASSERT_TRUE(book_.Reserve(Pod("z", {{0, 100, 0}})).ok());
  ASSERT_TRUE(book_.Reserve(Pod("a", {{0, 100, 0}})).ok());
  ASSERT_TRUE(book_.Reserve(Pod("m", {{1, 100, 0}})).ok());
  ASSERT_TRUE(book_.Allocate({MilliClaim(1, "GPU-b", 0, 100)}).ok());
  std::vector<std::string> uids;
  for (const Reservation& r : book_.Pending()) uids.push_back(r.pod_uid);
  EXPECT_THAT(uids, ElementsAre("z", "a"));
}

// ---------------------------------------------------------------------------------------------
// Allocate: exact shape, oldest first, clear refusals, all or nothing.

TEST_F(ReservationBookTest, AllocateMatchesTheOldestReservationOfExactlyThatShape) {
  ASSERT_TRUE(book_.Reserve(Pod("big", {{0, 500, 100}})).ok());
  ASSERT_TRUE(book_.Reserve(Pod("first", {{0, 250, 200}})).ok());
  ASSERT_TRUE(book_.Reserve(Pod("other-gpu", {{1, 250, 300}})).ok());
  ASSERT_TRUE(book_.Reserve(Pod("second", {{0, 250, 400}})).ok());

  auto got = book_.Allocate({MilliClaim(0, "GPU-a", 0, 250)});
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_THAT(*got, SizeIs(1));
  EXPECT_EQ((*got)[0].reservation.pod_uid, "first");
  EXPECT_EQ((*got)[0].state, AllocState::kAllocated);
  EXPECT_THAT((*got)[0].reservation.shares, ElementsAre(ShareSpec{0, 250, 200}));

  got = book_.Allocate({MilliClaim(0, "GPU-a", 250, 250)});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)[0].reservation.pod_uid, "second");
  got = book_.Allocate({MilliClaim(1, "GPU-b", 0, 250)});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)[0].reservation.pod_uid, "other-gpu");
}

TEST_F(ReservationBookTest, WholeGpuClaimsMatchTheSetOfGpus) {
  ASSERT_TRUE(book_.Reserve(Pod("one", {{1, 1000, 0}})).ok());
  ASSERT_TRUE(book_.Reserve(Pod("two", {{0, 1000, 0}})).ok());
  DeviceClaim claim{{{0, 1000, 0}}, {"GPU-a"}, "1 nvidia.com/gpu"};
  auto got = book_.Allocate({claim});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)[0].reservation.pod_uid, "two");
}

TEST_F(ReservationBookTest, AllocateWithoutAMatchingReservationSaysSoClearly) {
  ASSERT_TRUE(book_.Reserve(Pod("a", {{0, 250, 0}})).ok());
  auto got = book_.Allocate({MilliClaim(1, "GPU-b", 0, 250)});
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(got.status().message(),
              HasSubstr("no gpusched reservation on node node-1 for 250 gpusched.io/gpu-milli on "
                        "GPU 1 (GPU-b): was the pod scheduled by gpusched-extender?"));
  // It also says where a reservation of that size waits.
  EXPECT_THAT(got.status().message(), HasSubstr("ml/pod-a on GPU 0"));
  // A different size on the reserved GPU does not match either.
  got = book_.Allocate({MilliClaim(0, "GPU-a", 0, 200)});
  EXPECT_EQ(got.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(book_.Pending(), SizeIs(1));
}

TEST_F(ReservationBookTest, AllocateRetriedWithTheSameIdsReturnsTheSameEntry) {
  ASSERT_TRUE(book_.Reserve(Pod("a", {{0, 250, 0}})).ok());
  ASSERT_TRUE(book_.Reserve(Pod("b", {{0, 250, 0}})).ok());
  auto first = book_.Allocate({MilliClaim(0, "GPU-a", 0, 250)});
  ASSERT_TRUE(first.ok());
  const int changes = changes_;
  auto again = book_.Allocate({MilliClaim(0, "GPU-a", 0, 250)});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)[0].reservation.pod_uid, "a");
  EXPECT_EQ(changes_, changes);
  EXPECT_THAT(book_.Pending(), SizeIs(1));  // b still waits
}

TEST_F(ReservationBookTest, AllocateRefusesDevicesAnotherEntryHolds) {
  ASSERT_TRUE(book_.Reserve(Pod("a", {{0, 250, 0}})).ok());
  ASSERT_TRUE(book_.Reserve(Pod("b", {{0, 250, 0}})).ok());
  ASSERT_TRUE(book_.Allocate({MilliClaim(0, "GPU-a", 0, 250)}).ok());
  auto got = book_.Allocate({MilliClaim(0, "GPU-a", 100, 250)});
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(got.status().message(), HasSubstr("already allocated to pod a"));
  EXPECT_TRUE(book_.Allocate({MilliClaim(0, "GPU-a", 250, 250)}).ok());
}

TEST_F(ReservationBookTest, AllocateIsAllOrNothingAcrossContainers) {
  ASSERT_TRUE(book_.Reserve(Pod("a", {{0, 250, 0}})).ok());
  auto got = book_.Allocate({MilliClaim(0, "GPU-a", 0, 250), MilliClaim(1, "GPU-b", 0, 250)});
  EXPECT_EQ(got.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(book_.Pending(), SizeIs(1));
  EXPECT_EQ(book_.Snapshot()[0].state, AllocState::kReserved);
}

TEST_F(ReservationBookTest, AllocateRejectsMalformedClaims) {
  ASSERT_TRUE(book_.Reserve(Pod("a", {{0, 2, 0}})).ok());
  struct Case {
    std::string name;
    std::vector<DeviceClaim> claims;
    absl::StatusCode code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"no gpus", {{{}, {"x"}, "?"}}, absl::StatusCode::kInvalidArgument, "claims[0].shape: empty"},
      {"no ids", {{{{0, 2, 0}}, {}, "?"}}, absl::StatusCode::kInvalidArgument,
       "claims[0].device_ids: empty"},
      {"duplicate id", {{{{0, 2, 0}}, {"GPU-a-m1", "GPU-a-m1"}, "?"}},
       absl::StatusCode::kInvalidArgument, "\"GPU-a-m1\" appears more than once"},
      {"id in two containers",
       {{{{0, 1, 0}}, {"GPU-a-m1"}, "?"}, {{{0, 1, 0}}, {"GPU-a-m1"}, "?"}},
       absl::StatusCode::kInvalidArgument, "also in another container"},
      {"milli out of range", {{{{0, 1001, 0}}, {"x"}, "?"}}, absl::StatusCode::kInvalidArgument,
       "claims[0].shape[0].milli"},
      {"unknown gpu", {{{{9, 2, 0}}, {"GPU-z-m0", "GPU-z-m1"}, "2 milli"}},
       absl::StatusCode::kFailedPrecondition, "GPU 9 is not on this node"},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    auto got = book_.Allocate(tc.claims);
    EXPECT_EQ(got.status().code(), tc.code);
    EXPECT_THAT(got.status().message(), HasSubstr(tc.message));
  }
  // Nothing was harmed: the reservation still matches a good request.
  auto got = book_.Allocate({MilliClaim(0, "GPU-a", 0, 2)});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)[0].reservation.pod_uid, "a");
}

TEST_F(ReservationBookTest, AllocateRefusesAGpuThatTurnedUnhealthy) {
  ASSERT_TRUE(book_.Reserve(Pod("a", {{0, 250, 0}})).ok());
  auto gpus = TwoGpus();
  gpus[0].healthy = false;
  book_.SetGpus(gpus);
  auto got = book_.Allocate({MilliClaim(0, "GPU-a", 0, 250)});
  EXPECT_EQ(got.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(got.status().message(), HasSubstr("GPU 0 (GPU-a) is unhealthy"));
}

TEST_F(ReservationBookTest, AllocateNeverExceedsMemoryEvenAfterTheGpuShrank) {
  ASSERT_TRUE(book_.Reserve(Pod("a", {{0, 250, 30000}})).ok());
  ASSERT_TRUE(book_.Reserve(Pod("b", {{0, 250, 10000}})).ok());
  ASSERT_TRUE(book_.Allocate({MilliClaim(0, "GPU-a", 0, 250)}).ok());
  auto gpus = TwoGpus();
  gpus[0].memory_mib = 32768;  // e.g. ECC or a MIG change: less memory than reserved
  book_.SetGpus(gpus);
  auto got = book_.Allocate({MilliClaim(0, "GPU-a", 250, 250)});
  EXPECT_EQ(got.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(got.status().message(), HasSubstr("MiB free"));
}

// ---------------------------------------------------------------------------------------------
// Reconcile: the pod that really holds the devices.

TEST_F(ReservationBookTest, ReconcileConfirmsTheMatchedPod) {
  ASSERT_TRUE(book_.Reserve(Pod("a", {{0, 250, 512}})).ok());
  ASSERT_TRUE(book_.Allocate({MilliClaim(0, "GPU-a", 0, 250)}).ok());
  ReconcileReport r =
      book_.Reconcile({{"ml", "pod-a", MilliIds("GPU-a", 0, 250), {{0, 250, 0}}}}, absl::Minutes(1));
  EXPECT_EQ(r, (ReconcileReport{.confirmed = 1}));
  auto snap = book_.Snapshot();
  ASSERT_THAT(snap, SizeIs(1));
  EXPECT_EQ(snap[0].state, AllocState::kConfirmed);
  EXPECT_THAT(snap[0].reservation.shares, ElementsAre(ShareSpec{0, 250, 512}));
  // Again: nothing new.
  r = book_.Reconcile({{"ml", "pod-a", MilliIds("GPU-a", 0, 250), {{0, 250, 0}}}}, absl::Minutes(1));
  EXPECT_EQ(r, ReconcileReport{});
}

TEST_F(ReservationBookTest, SameShapePodsAdmittedOutOfOrderSwapToWhatTheyReallyHold) {
  // a was reserved first (GPU 0), b second (GPU 1); the kubelet admits b first and, steered to
  // the oldest reservation, gives it GPU 0.
  ASSERT_TRUE(book_.Reserve(Pod("a", {{0, 250, 1000}})).ok());
  ASSERT_TRUE(book_.Reserve(Pod("b", {{1, 250, 1000}})).ok());
  auto got = book_.Allocate({MilliClaim(0, "GPU-a", 0, 250)});  // really b's container
  ASSERT_TRUE(got.ok());
  EXPECT_EQ((*got)[0].reservation.pod_uid, "a");  // provisional

  // PodResources: b holds GPU 0's IDs; a has not arrived.
  ReconcileReport r =
      book_.Reconcile({{"ml", "pod-b", MilliIds("GPU-a", 0, 250), {{0, 250, 0}}}}, absl::Minutes(1));
  EXPECT_EQ(r, (ReconcileReport{.swapped = 1}));
  auto by = ByUid(book_.Snapshot());
  EXPECT_EQ(by.at("b").state, AllocState::kConfirmed);
  EXPECT_THAT(by.at("b").reservation.shares, ElementsAre(ShareSpec{0, 250, 1000}));
  EXPECT_EQ(by.at("a").state, AllocState::kReserved);
  EXPECT_THAT(by.at("a").reservation.shares, ElementsAre(ShareSpec{1, 250, 1000}));

  // a arrives and gets GPU 1, now its reservation.
  got = book_.Allocate({MilliClaim(1, "GPU-b", 0, 250)});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)[0].reservation.pod_uid, "a");
  r = book_.Reconcile({{"ml", "pod-b", MilliIds("GPU-a", 0, 250), {{0, 250, 0}}},
                       {"ml", "pod-a", MilliIds("GPU-b", 0, 250), {{1, 250, 0}}}},
                      absl::Minutes(1));
  EXPECT_EQ(r, (ReconcileReport{.confirmed = 1}));
  by = ByUid(book_.Snapshot());
  EXPECT_EQ(by.at("a").state, AllocState::kConfirmed);
  EXPECT_THAT(by.at("a").reservation.shares, ElementsAre(ShareSpec{1, 250, 1000}));
  EXPECT_EQ(by.at("b").state, AllocState::kConfirmed);
  EXPECT_THAT(by.at("b").reservation.shares, ElementsAre(ShareSpec{0, 250, 1000}));
}

TEST_F(ReservationBookTest, BothAllocatedBeforeReconcileSwapInOneGo) {
  ASSERT_TRUE(book_.Reserve(Pod("a", {{0, 500, 1}})).ok());
  ASSERT_TRUE(book_.Reserve(Pod("b", {{1, 500, 2}})).ok());
  ASSERT_TRUE(book_.Allocate({MilliClaim(0, "GPU-a", 0, 500)}).ok());  // b's container
  ASSERT_TRUE(book_.Allocate({MilliClaim(1, "GPU-b", 0, 500)}).ok());  // a's container
  ReconcileReport r = book_.Reconcile(
      {{"ml", "pod-a", MilliIds("GPU-b", 0, 500), {}}, {"ml", "pod-b", MilliIds("GPU-a", 0, 500), {}}},
      absl::Minutes(1));
  EXPECT_EQ(r.swapped, 1);
  EXPECT_EQ(r.confirmed, 1);
  auto by = ByUid(book_.Snapshot());
  EXPECT_EQ(by.at("a").state, AllocState::kConfirmed);
  EXPECT_THAT(by.at("a").reservation.shares, ElementsAre(ShareSpec{1, 500, 2}));
  EXPECT_EQ(by.at("b").state, AllocState::kConfirmed);
  EXPECT_THAT(by.at("b").reservation.shares, ElementsAre(ShareSpec{0, 500, 1}));
}

TEST_F(ReservationBookTest, AllocationsNoPodHoldsAreReleasedAfterTheGrace) {
  ASSERT_TRUE(book_.Reserve(Pod("a", {{0, 250, 0}})).ok());
  ASSERT_TRUE(book_.Reserve(Pod("b", {{1, 250, 0}})).ok());
  ASSERT_TRUE(book_.Allocate({MilliClaim(0, "GPU-a", 0, 250)}).ok());
  ASSERT_TRUE(book_.Allocate({MilliClaim(1, "GPU-b", 0, 250)}).ok());
  // Only a shows up; b's Allocate may still be on its way into the kubelet's records.
  const std::vector<HeldDevices> pods = {{"ml", "pod-a", MilliIds("GPU-a", 0, 250), {}}};
  EXPECT_EQ(book_.Reconcile(pods, absl::Seconds(30)).released, 0);
  clock_.Advance(absl::Seconds(29));
  EXPECT_EQ(book_.Reconcile(pods, absl::Seconds(30)).released, 0);
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(book_.Reconcile(pods, absl::Seconds(30)).released, 1);
  auto by = ByUid(book_.Snapshot());
  EXPECT_THAT(by, SizeIs(1));
  EXPECT_EQ(by.count("a"), 1u);
  // a leaves: released a grace after it was last seen.
  clock_.Advance(absl::Seconds(10));
  EXPECT_EQ(book_.Reconcile({}, absl::Seconds(30)).released, 0);
  clock_.Advance(absl::Seconds(20));
  EXPECT_EQ(book_.Reconcile({}, absl::Seconds(30)).released, 1);
  EXPECT_THAT(book_.Snapshot(), IsEmpty());
  EXPECT_TRUE(book_.Reserve(Pod("c", {{0, 1000, 0}, {1, 1000, 0}})).ok());
}

TEST_F(ReservationBookTest, ReleasingAnUnconfirmedAllocationKeepsItsDevicesCounted) {
  ASSERT_TRUE(book_.Reserve(Pod("a", {{0, 1000, 0}})).ok());
  ASSERT_TRUE(book_.Allocate({MilliClaim(0, "GPU-a", 0, 1000)}).ok());
  ASSERT_TRUE(book_.Release("a").ok());
  // Which pod runs on those devices is not known: the GPU stays full.
  EXPECT_EQ(book_.Reserve(Pod("b", {{0, 1, 0}})).code(), absl::StatusCode::kFailedPrecondition);
  auto snap = book_.Snapshot();
  ASSERT_THAT(snap, SizeIs(1));
  EXPECT_EQ(snap[0].reservation.pod_uid, "");
  EXPECT_EQ(snap[0].state, AllocState::kAllocated);
  // PodResources shows the holder: recorded under its name.
  book_.Reconcile({{"ml", "pod-a", MilliIds("GPU-a", 0, 1000), {}}}, absl::Minutes(1));
  snap = book_.Snapshot();
  ASSERT_THAT(snap, SizeIs(1));
  EXPECT_EQ(snap[0].reservation.pod_name, "pod-a");
  EXPECT_EQ(snap[0].state, AllocState::kConfirmed);
  // Gone: freed after the grace.
  clock_.Advance(absl::Minutes(1));
  book_.Reconcile({}, absl::Minutes(1));
  EXPECT_TRUE(book_.Reserve(Pod("b", {{0, 1000, 0}})).ok());
}

TEST_F(ReservationBookTest, ReconcileAdoptsDevicesTheBookDidNotKnowAndReserveReattachesThem) {
  // After an agent restart the book is empty but the kubelet still runs pod-a on GPU 1.
  ReconcileReport r = book_.Reconcile(
      {{"ml", "pod-a", MilliIds("GPU-b", 0, 600), {{1, 600, 0}}}}, absl::Minutes(1));
  EXPECT_EQ(r.adopted, 1);
  auto snap = book_.Snapshot();
  ASSERT_THAT(snap, SizeIs(1));
  EXPECT_EQ(snap[0].reservation.pod_uid, "");
  EXPECT_EQ(snap[0].state, AllocState::kConfirmed);
  EXPECT_EQ(book_.Reserve(Pod("x", {{1, 500, 0}})).code(), absl::StatusCode::kFailedPrecondition);
  // The extender reserves pod-a again with its uid and memory.
  ASSERT_TRUE(book_.Reserve(Pod("a", {{1, 600, 2048}})).ok());
  snap = book_.Snapshot();
  ASSERT_THAT(snap, SizeIs(1));
  EXPECT_EQ(snap[0].reservation.pod_uid, "a");
  EXPECT_EQ(snap[0].state, AllocState::kConfirmed);
  EXPECT_THAT(snap[0].reservation.shares, ElementsAre(ShareSpec{1, 600, 2048}));
}

TEST_F(ReservationBookTest, APodWithoutAReservationTakingAnotherPodsDevicesIsRecorded) {
  ASSERT_TRUE(book_.Reserve(Pod("a", {{0, 250, 0}})).ok());
  ASSERT_TRUE(book_.Allocate({MilliClaim(0, "GPU-a", 0, 250)}).ok());
  ReconcileReport r = book_.Reconcile(
      {{"other", "intruder", MilliIds("GPU-a", 0, 250), {{0, 250, 0}}}}, absl::Minutes(1));
  EXPECT_EQ(r.stolen, 1);
  auto snap = book_.Snapshot();
  ASSERT_THAT(snap, SizeIs(1));
  EXPECT_EQ(snap[0].reservation.pod_uid, "");
  EXPECT_EQ(snap[0].reservation.pod_namespace, "other");
  EXPECT_EQ(snap[0].reservation.pod_name, "intruder");
  EXPECT_EQ(snap[0].state, AllocState::kConfirmed);
}

TEST_F(ReservationBookTest, APodHoldingSeveralAllocationsIsCountedNotSwapped) {
  ASSERT_TRUE(book_.Reserve(Pod("a", {{0, 100, 0}})).ok());
  ASSERT_TRUE(book_.Reserve(Pod("b", {{1, 100, 0}})).ok());
  ASSERT_TRUE(book_.Allocate({MilliClaim(0, "GPU-a", 0, 100)}).ok());
  ASSERT_TRUE(book_.Allocate({MilliClaim(1, "GPU-b", 0, 100)}).ok());
  std::vector<std::string> ids = MilliIds("GPU-a", 0, 100);
  for (std::string& id : MilliIds("GPU-b", 0, 100)) ids.push_back(id);
  ReconcileReport r = book_.Reconcile({{"ml", "pod-a", ids, {}}}, absl::Seconds(1));
  EXPECT_EQ(r, (ReconcileReport{.unsupported = 1}));
  clock_.Advance(absl::Minutes(1));
  r = book_.Reconcile({{"ml", "pod-a", ids, {}}}, absl::Seconds(1));
  EXPECT_EQ(r.released, 0);  // seen, so kept
  EXPECT_THAT(book_.Snapshot(), SizeIs(2));
}

// ---------------------------------------------------------------------------------------------
// Concurrency: many threads reserving, allocating and releasing never push a GPU over capacity.

class FixedClock final : public Clock {
 public:
  absl::Time Now() const override { return kStart; }
  TimerId ScheduleAfter(absl::Duration, Callback) override { return 1; }
  bool Cancel(TimerId) override { return false; }
};

TEST(ReservationBookConcurrencyTest, ParallelReservationsNeverExceedCapacity) {
  FixedClock clock;
  std::atomic<int> notified{0};
  ReservationBook book(TwoGpus(), clock, {.on_change = [&] { notified.fetch_add(1); }});
  std::atomic<int> accepted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const std::string uid = absl::StrCat("t", t, "-", i);
        if (book.Reserve(Pod(uid, {{i % 2, 130, 3000}})).ok()) accepted.fetch_add(1);
        if (i % 3 == 0) {
          (void)book.Allocate({MilliClaim(i % 2, absl::StrCat("GPU-", t, "-", i), 0, 130)});
        }
        if (i % 2 == 1) (void)book.Release(uid);
        for (const auto& [gpu, used] : Usage(book)) {
          ASSERT_LE(used.first, 1000);
          ASSERT_LE(used.second, 40960);
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_GT(accepted.load(), 0);
  EXPECT_GT(notified.load(), 0);
  for (const auto& [gpu, used] : Usage(book)) {
    EXPECT_LE(used.first, 1000);
    EXPECT_LE(used.second, 40960);
  }
}

}  // namespace
}  // namespace gpusched::agent

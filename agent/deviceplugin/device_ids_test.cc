#include "agent/deviceplugin/device_ids.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gpusched::agent::deviceplugin {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

const std::vector<GpuRef> kGpus = {{0, "GPU-a", 1000, true}, {3, "GPU-b", 1000, false}};

TEST(DeviceIds, MilliIdsAreTheUuidAndAFourDigitIndex) {
  EXPECT_EQ(MilliDeviceId("GPU-a", 0), "GPU-a-m0000");
  EXPECT_EQ(MilliDeviceId("GPU-a", 999), "GPU-a-m0999");
  auto ids = DeviceIdsOf(ResourceKind::kMilli, "GPU-a");
  ASSERT_THAT(ids, SizeIs(1000));
  EXPECT_EQ(ids.front(), "GPU-a-m0000");
  EXPECT_EQ(ids.back(), "GPU-a-m0999");
  EXPECT_THAT(DeviceIdsOf(ResourceKind::kWhole, "GPU-a"), ElementsAre("GPU-a"));
  // A real NVIDIA uuid keeps the ID within the API's 63 characters.
  EXPECT_LE(MilliDeviceId("GPU-8c1f2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b", 999).size(), 63u);
}

TEST(DeviceIds, DecodesAShareOfOneGpu) {
  auto d = DecodeDevices(ResourceKind::kMilli, kGpus, {"GPU-b-m0007", "GPU-b-m0001"});
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_THAT(d->shape, ElementsAre(ShareSpec{3, 2, 0}));
  EXPECT_THAT(d->ids_by_gpu.at(3), ElementsAre("GPU-b-m0001", "GPU-b-m0007"));
}

TEST(DeviceIds, DecodesWholeGpus) {
  auto d = DecodeDevices(ResourceKind::kWhole, kGpus, {"GPU-b", "GPU-a"});
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_THAT(d->shape, ElementsAre(ShareSpec{0, 1000, 0}, ShareSpec{3, 1000, 0}));
}

TEST(DeviceIds, RejectsMalformedRequests) {
  struct Case {
    std::string name;
    ResourceKind kind;
    std::vector<std::string> ids;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"empty", ResourceKind::kMilli, {}, "devices_ids: empty"},
      {"unknown gpu", ResourceKind::kMilli, {"GPU-z-m0001"}, "\"GPU-z-m0001\" is not a milli-GPU"},
      {"index beyond 999", ResourceKind::kMilli, {"GPU-a-m1000"}, "is not a milli-GPU"},
      {"not digits", ResourceKind::kMilli, {"GPU-a-m00x1"}, "is not a milli-GPU"},
      {"whole id as milli", ResourceKind::kMilli, {"GPU-a"}, "is not a milli-GPU"},
      {"milli id as whole", ResourceKind::kWhole, {"GPU-a-m0001"}, "is not a whole-GPU"},
      {"duplicate", ResourceKind::kMilli, {"GPU-a-m0001", "GPU-a-m0001"}, "appears more than once"},
      {"mixed gpus", ResourceKind::kMilli, {"GPU-a-m0001", "GPU-b-m0001", "GPU-b-m0002"},
       "takes all its IDs from one GPU; got 1 of GPU 0, 2 of GPU 3"},
      {"control bytes", ResourceKind::kWhole, {std::string("GPU\x01", 4)}, "\"GPU\\001\""},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    auto d = DecodeDevices(tc.kind, kGpus, tc.ids);
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(d.status().message(), HasSubstr(tc.message));
  }
}

TEST(DeviceIds, KnownDevicesSkipsWhatIsNotOurs) {
  DecodedDevices d = DecodeKnownDevices(
      ResourceKind::kMilli, kGpus,
      {"GPU-a-m0001", "GPU-b-m0001", "other", "GPU-a-m0001", "GPU-z-m0000", "GPU-a"});
  EXPECT_THAT(d.shape, ElementsAre(ShareSpec{0, 1, 0}, ShareSpec{3, 1, 0}));
  EXPECT_THAT(DecodeKnownDevices(ResourceKind::kWhole, kGpus, {"x"}).shape, IsEmpty());
}

}  // namespace
}  // namespace gpusched::agent::deviceplugin

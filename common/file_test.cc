#include "common/file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gpusched {
namespace {

using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  return absl::StrCat(::testing::TempDir(), "/file_test_", ::getpid(), "_", name);
}

TEST(ReadInputFileTest, ReadsARegularFileWhole) {
  const std::string path = TempPath("ok");
  std::ofstream(path, std::ios::binary) << std::string(200'000, 'x') << "end";
  absl::StatusOr<std::string> text = ReadInputFile(path, 1 << 20);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(text->size(), 200'003u);
  EXPECT_EQ(text->substr(text->size() - 3), "end");
}

TEST(ReadInputFileTest, RefusesWhatIsNotARegularFile) {
  absl::StatusOr<std::string> dir = ReadInputFile(::testing::TempDir(), 1 << 20);
  EXPECT_EQ(dir.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(dir.status().message()), HasSubstr("is a directory, not a file"));

  absl::StatusOr<std::string> dev = ReadInputFile("/dev/zero", 1 << 20);
  EXPECT_THAT(std::string(dev.status().message()),
              HasSubstr("/dev/zero: is a character device, not a regular file"));

  const std::string fifo = TempPath("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  absl::StatusOr<std::string> pipe = ReadInputFile(fifo, 1 << 20);  // must not block
  EXPECT_THAT(std::string(pipe.status().message()), HasSubstr("is a pipe (FIFO)"));
  ::unlink(fifo.c_str());

  absl::StatusOr<std::string> missing = ReadInputFile(TempPath("absent"), 1 << 20);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("no such file"));
}

TEST(ReadInputFileTest, RefusesAFileOverTheLimitAndNamesTheLimitAndTheFlag) {
  const std::string path = TempPath("big");
  std::ofstream(path, std::ios::binary) << std::string(20'001, 'x');
  absl::StatusOr<std::string> text = ReadInputFile(path, 20'000, "raise it with --max-input-mb");
  EXPECT_EQ(text.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(text.status().message()),
              HasSubstr("is 20.0 kB, over the input limit of 20.0 kB (raise it with --max-input-mb)"));
  EXPECT_TRUE(ReadInputFile(path, 20'001).ok());
}

TEST(HumanBytesTest, PicksAUnit) {
  EXPECT_EQ(HumanBytes(812), "812 bytes");
  EXPECT_EQ(HumanBytes(52'400'000), "52.4 MB");
  EXPECT_EQ(HumanBytes(3'000'000'000'000), "3000.0 GB");
}

}  // namespace
}  // namespace gpusched

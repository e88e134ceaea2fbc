#include "common/log.h"

#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spdlog/sinks/ostream_sink.h"
#include "spdlog/spdlog.h"

namespace gpusched::log {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

std::shared_ptr<spdlog::logger> Capture(std::ostringstream& out) {
  return std::make_shared<spdlog::logger>(
      "test", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
}

TEST(Logger, PlainLinesCarryTimeLevelMessageAndFields) {
  std::ostringstream out;
  Logger logger(Options{.level = Level::kInfo}, Capture(out));
  logger.Warn("binding not confirmed", {{"pod", "ml/train-0"}, {"reason", "no informer event"}});
  EXPECT_THAT(out.str(),
              MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z warn binding not confirmed "
                           "pod=ml/train-0 reason=\"no informer event\"\n"));
}

TEST(Logger, JsonLinesAreValidJsonWithEscapedText) {
  std::ostringstream out;
  Logger logger(Options{.level = Level::kDebug, .json = true}, Capture(out));
  logger.Info("quote \" backslash \\ newline \n tab \t bell \x07", {{"k\"", "v\\"}});
  const std::string line = out.str();
  EXPECT_THAT(line, HasSubstr("\"level\":\"info\""));
  EXPECT_THAT(line, HasSubstr(R"("msg":"quote \" backslash \\ newline \n tab \t bell \u0007")"));
  EXPECT_THAT(line, HasSubstr(R"("k\"":"v\\")"));
  EXPECT_THAT(line, MatchesRegex("\\{\"ts\":\"[0-9T:.-]+Z\",.*\\}\n"));
}

TEST(Logger, LevelsFilterAndOnceIsOncePerKey) {
  std::ostringstream out;
  Logger logger(Options{.level = Level::kWarn}, Capture(out));
  logger.Debug("no");
  logger.Info("no");
  EXPECT_EQ(out.str(), "");
  logger.Error("yes");
  EXPECT_THAT(out.str(), HasSubstr("error yes"));
  EXPECT_TRUE(logger.Once("agent-stale"));
  EXPECT_FALSE(logger.Once("agent-stale"));
  EXPECT_TRUE(logger.Once("other"));
  Logger off(Options{.level = Level::kOff}, Capture(out));
  EXPECT_FALSE(off.Enabled(Level::kError));
}

TEST(Logger, ParseLevelNamesTheBadValue) {
  EXPECT_EQ(*ParseLevel("warn"), Level::kWarn);
  absl::StatusOr<Level> bad = ParseLevel("loud");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("\"loud\""));
}

}  // namespace
}  // namespace gpusched::log

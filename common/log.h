#pragma once

// The project's one logger: spdlog (Debian's libspdlog) underneath, levels, plain text or JSON
// lines, to standard error. Owners create one and hand it to what they run (LiveOptions::logger);
// code that was given none stays silent.
//
//   log::Logger logger(log::Options{.level = log::Level::kInfo, .json = true});
//   logger.Warn("gang released", {{"gang", "ml/train"}, {"bound", "2/4"}});
//   // {"ts":"2026-12-06T21:40:01.123Z","level":"warn","msg":"gang released","gang":"ml/train",...}
//   if (logger.Once("store-clone")) logger.Warn("...");   // a degraded mode: logged once
//
// Rules: never log per node or per request on the hot path (Filter/Prioritize); log state
// changes (a binding lost, a plan released, an agent gone stale) and count them in metrics too.
// Thread-safe: every method may be called from any thread.

#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "common/mutex.h"

namespace spdlog {
class logger;
}

namespace gpusched::log {

enum class Level { kDebug, kInfo, kWarn, kError, kOff };

// "debug", "info", "warn", "error", "off" (InvalidArgument otherwise).
absl::StatusOr<Level> ParseLevel(std::string_view name);

struct Options {
  Level level = Level::kInfo;
  bool json = false;  // one JSON object per line instead of "TIME LEVEL message key=value"
};

using Fields = std::initializer_list<std::pair<std::string_view, std::string_view>>;

class Logger {
 public:
  explicit Logger(Options options = {});
  // A logger writing to `sink` instead of stderr (tests).
  Logger(Options options, std::shared_ptr<spdlog::logger> sink);
  ~Logger();
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  bool Enabled(Level level) const { return level >= options_.level && level != Level::kOff; }
  void Log(Level level, std::string_view message, Fields fields = {});
  void Debug(std::string_view m, Fields f = {}) { Log(Level::kDebug, m, f); }
  void Info(std::string_view m, Fields f = {}) { Log(Level::kInfo, m, f); }
  void Warn(std::string_view m, Fields f = {}) { Log(Level::kWarn, m, f); }
  void Error(std::string_view m, Fields f = {}) { Log(Level::kError, m, f); }

  // True the first time it is called with `key`: for degraded modes that log once.
  bool Once(std::string_view key);

  // The line Log would write for these arguments, without time (tests, and the format's
  // definition): `msg key=value ...` or `{"level":...,"msg":...,...}`.
  std::string Format(Level level, std::string_view message, Fields fields) const;

 private:
  const Options options_;
  std::shared_ptr<spdlog::logger> out_;
  Mutex mu_;
  absl::flat_hash_set<std::string> once_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gpusched::log

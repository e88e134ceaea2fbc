#include "common/log.h"

#include "common/json_string.h"

#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace gpusched::log {
namespace {

std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
    case Level::kOff: return "off";
  }
  return "info";
}


}  // namespace

absl::StatusOr<Level> ParseLevel(std::string_view name) {
  for (Level l : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError, Level::kOff}) {
    if (name == LevelName(l)) return l;
  }
  return absl::InvalidArgumentError(
      "log level \"" + std::string(name) + "\" is not debug, info, warn, error or off");
}

Logger::Logger(Options options)
    : Logger(options, std::make_shared<spdlog::logger>(
                          "gpusched", std::make_shared<spdlog::sinks::stderr_sink_mt>())) {}

Logger::Logger(Options options, std::shared_ptr<spdlog::logger> sink)
    : options_(options), out_(std::move(sink)) {
  // The level filter is ours; spdlog adds the time and writes the line.
  out_->set_level(spdlog::level::trace);
  out_->set_pattern(options_.json ? "{\"ts\":\"%Y-%m-%dT%H:%M:%S.%eZ\",%v}"
                                  : "%Y-%m-%dT%H:%M:%S.%eZ %v",
                    spdlog::pattern_time_type::utc);
}

Logger::~Logger() = default;

std::string Logger::Format(Level level, std::string_view message, Fields fields) const {
  std::string line;
  if (options_.json) {
    line += "\"level\":\"";
    line += LevelName(level);
    line += "\",\"msg\":";
    AppendJsonString(line, message);
    for (const auto& [k, v] : fields) {
      line.push_back(',');
      AppendJsonString(line, k);
      line.push_back(':');
      AppendJsonString(line, v);
    }
    return line;
  }
  line += LevelName(level);
  line += ' ';
  line += message;
  for (const auto& [k, v] : fields) {
    const bool quote = v.empty() || v.find_first_of(" \"=") != std::string_view::npos;
    line += ' ';
    line += k;
    line += '=';
    if (quote) {
      AppendJsonString(line, v);
    } else {
      line.append(v.data(), v.size());
    }
  }
  return line;
}

void Logger::Log(Level level, std::string_view message, Fields fields) {
  if (!Enabled(level)) return;
  const std::string line = Format(level, message, fields);
  out_->log(spdlog::level::info, "{}", line);  // spdlog's own level is not shown in the pattern
}

bool Logger::Once(std::string_view key) {
  MutexLock l(&mu_);
  return once_.emplace(key).second;
}

}  // namespace gpusched::log

namespace gpusched {

void AppendJsonString(std::string& out, std::string_view s) {
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          static constexpr char kHex[] = "0123456789abcdef";
          out += "\\u00";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 15]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

}  // namespace gpusched

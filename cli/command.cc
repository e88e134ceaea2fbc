#include "cli/command.h"

#include <cctype>
#include <filesystem>
#include <fstream>
#include <new>
#include <system_error>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "common/json_string.h"
#include "common/printable.h"
#include "common/status_macros.h"

namespace gpusched::cli {

int ParseThenRun(CLI::App& app, const std::vector<std::string>& args, std::ostream& out,
                 std::ostream& err, const Runner& run) {
  // CLI11 takes the arguments in reverse order and consumes them from the back.
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    return kExitOk;
  } catch (const CLI::CallForAllHelp&) {
    out << app.help("", CLI::AppFormatMode::All);
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    // CLI11 names the first problem; arguments it could not place at all are worth naming too
    // ("topo draw": "A subcommand is required" alone would hide "draw").
    std::string unplaced;
    for (const std::string& a : app.remaining(/*recurse=*/true)) {
      if (std::string_view(e.what()).find(a) != std::string_view::npos) continue;
      absl::StrAppend(&unplaced, unplaced.empty() ? "" : ", ", "\"", a, "\"");
    }
    // Name the (sub)command that was being parsed: "gpusched sim", "gpusched topo best".
    std::string name = app.get_name();
    for (const CLI::App* sub = &app; !sub->get_subcommands().empty();) {
      sub = sub->get_subcommands().front();
      absl::StrAppend(&name, " ", sub->get_name());
    }
    err << name << ": " << e.what()
        << (unplaced.empty() ? "" : absl::StrCat(" (not understood: ", unplaced, ")")) << "\n"
        << "Run \"" << name << " --help\" for the flags.\n";
    return kExitUsage;
  }
  // The commands report errors as statuses; what escapes as an exception (memory exhausted,
  // a library's throw) still ends as a message and exit 1, never as an abort.
  try {
    return run(out, err);
  } catch (const std::bad_alloc&) {
    err << app.get_name() << ": out of memory (the input is larger than this machine can hold)\n";
  } catch (const std::exception& e) {
    err << app.get_name() << ": internal error: " << EscapeForMessage(e.what(), 200) << "\n";
  }
  return kExitFailed;
}

const CLI::Validator& RealValue() {
  static const CLI::Validator* const kValidator = new CLI::Validator(
      [](std::string& value) -> std::string {
        if (value.empty()) return "an empty value";
        if (value.size() > 1 && value[0] == '-' &&
            !(std::isdigit(static_cast<unsigned char>(value[1])) || value[1] == '.')) {
          return absl::StrCat("\"", value, "\" is a flag, not a value (the value is missing)");
        }
        return "";
      },
      "");
  return *kValidator;
}

absl::Status PrepareOutputDir(const std::string& dir, std::string_view flag) {
  namespace fs = std::filesystem;
  const std::string what = absl::StrCat(std::string(flag), " ", dir);
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, ": exists and is not a directory"));
  }
  fs::create_directories(dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, ": cannot create the directory: ", ec.message()));
  }
  const fs::path probe = fs::path(dir) / ".gpusched-write-check";
  {
    std::ofstream f(probe);
    if (!f || !(f << "ok") || !f.flush()) {
      return absl::FailedPreconditionError(
          absl::StrCat(what, ": cannot write there (check its permissions)"));
    }
  }
  fs::remove(probe, ec);
  return absl::OkStatus();
}

int Fail(std::ostream& err, std::string_view command, const absl::Status& status) {
  err << command << ": " << MessageOf(status) << "\n";
  return kExitFailed;
}

int UsageError(std::ostream& err, std::string_view command, std::string_view message) {
  err << command << ": " << message << "\n";
  return kExitUsage;
}

void PrintWarnings(std::ostream& out, const std::vector<std::string>& warnings) {
  for (const std::string& w : warnings) out << "warning: " << w << "\n";
}

std::string WarningsJson(const std::vector<std::string>& warnings) {
  std::string out = "[";
  for (size_t i = 0; i < warnings.size(); ++i) {
    if (i > 0) out += ",";
    AppendJsonString(out, warnings[i]);
  }
  return out + "]";
}

}  // namespace gpusched::cli

#pragma once

// What the gpusched subcommands share: flags on CLI11 (Debian's libcli11-dev) and the checks
// every command makes before it starts work.
//
//   CLI::App app("Replay a trace ...", "gpusched sim");
//   Runner run = AddSimCommand(app);            // registers flags; values live in the runner
//   return ParseThenRun(app, args, out, err, run);
//
// Exit codes of every command: 0 done (or --help), 1 the input or the work failed (the message
// names the file, line and column where there is one), 2 a usage error (unknown, missing,
// repeated, out-of-range or conflicting flags; CLI11's message plus a pointer to --help).

#include <functional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace CLI {
class App;
class Validator;
}  // namespace CLI

namespace gpusched::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;

// Runs a command whose flags have been parsed into the state it captured.
using Runner = std::function<int(std::ostream& out, std::ostream& err)>;

// Parses `args` (without the program name) for `app`, then calls `run`. --help prints the
// generated help to `out` (exit 0); a parse error prints "<app name>: <what>" and the hint to
// use --help to `err` (exit 2). An exception from `run` (memory exhausted) is a message and exit 1.
int ParseThenRun(CLI::App& app, const std::vector<std::string>& args, std::ostream& out,
                 std::ostream& err, const Runner& run);

// A flag's value: not empty, and not the next flag taken as a value ("--out --json" would
// otherwise create a directory named "--json"). Negative numbers ("-1") pass, for range checks
// to judge.
const CLI::Validator& RealValue();

// Prepares an output directory before any work starts: creates it (and its parents) and checks
// that a file can be written there, so a run never ends with its results lost. FailedPrecondition
// naming `flag` and the directory otherwise.
absl::Status PrepareOutputDir(const std::string& dir, std::string_view flag = "--out");

// Prints "<command>: <message>" for a failed status and returns kExitFailed.
int Fail(std::ostream& err, std::string_view command, const absl::Status& status);
// Prints "<command>: <message>" for a usage problem found after parsing, and returns kExitUsage.
int UsageError(std::ostream& err, std::string_view command, std::string_view message);

// Warnings (inputs that are usable but probably not what the user meant), one per line as
// "warning: ...", on the stream given (stdout for tables, so they are seen with the results).
void PrintWarnings(std::ostream& out, const std::vector<std::string>& warnings);
// The same as a JSON array of strings, e.g. ["no node has model G9"].
std::string WarningsJson(const std::vector<std::string>& warnings);

// --max-input-mb: the per-file size limit of every input file a command reads.
inline constexpr int kDefaultMaxInputMb = 256;
inline constexpr int kMaxMaxInputMb = 64 * 1024;
inline constexpr char kMaxInputHint[] = "raise it with --max-input-mb";

}  // namespace gpusched::cli

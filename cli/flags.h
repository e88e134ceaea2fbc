#pragma once

// Walks `--name value` and `--switch` arguments for the gpusched subcommands.
//
//   FlagReader flags(args);
//   while (flags.Next()) {
//     if (flags.Value("--out", out_dir) || flags.Switch("--json", json)) continue;
//     return flags.Unknown(err, "sim", kUsage);   // prints the problem and usage; returns 2
//   }

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace gpusched::cli {

class FlagReader {
 public:
  explicit FlagReader(const std::vector<std::string>& args, size_t start = 0)
      : args_(args), next_(start) {}

  // Moves to the next argument; false when none is left.
  bool Next() {
    if (next_ >= args_.size()) return false;
    current_ = next_++;
    return true;
  }
  const std::string& current() const { return args_[current_]; }

  // True (and `out` set) if the current argument is `name` and a value follows it.
  bool Value(std::string_view name, std::string& out) {
    if (current() != name || next_ >= args_.size()) return false;
    out = args_[next_++];
    return true;
  }
  bool Switch(std::string_view name, bool& out) {
    if (current() != name) return false;
    out = true;
    return true;
  }
  // Reports the current argument as unknown, or as a flag missing its value.
  int Unknown(std::ostream& err, std::string_view command, std::string_view usage) const {
    err << command << ": unknown or incomplete argument \"" << current() << "\"\n" << usage;
    return 2;
  }

 private:
  const std::vector<std::string>& args_;
  size_t next_;
  size_t current_ = 0;
};

}  // namespace gpusched::cli

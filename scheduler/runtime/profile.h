#pragma once

// Profiles: named plugin sets with weights and arguments, read from YAML or JSON.
//
//   profiles:
//     - name: baseline
//       plugins:
//         - name: PrioritySort
//         - name: NodeResourcesFit
//           weight: 2                      # Score plugins only; 1..100, default 1
//           args: {scoringStrategy: MostAllocated}
//         - name: DefaultBinder
//         - name: NodeResourcesFit        # a plugin may be limited to some of its points
//           points: [Filter, Reserve]      # (kube-scheduler's per-point enable/disable)
//
// The same document in JSON ({"profiles": [{"name": "baseline", "plugins": [...]}]}) parses too.
// Each plugin's extension points come from the plugin itself; the order in the list is the order
// plugins run at each point. Errors name the source, the line and column, and the field:
//   "profiles.yaml:7:19: profiles[0].plugins[1].weight: must be in 1..100, got 0"
// Hostile input (see yaml_guard.h): YAML anchors and aliases, a second document ("---"), a key
// repeated in one map (YAML or JSON), nesting deeper than kMaxProfileDepth and more than
// kMaxProfileNodes nodes are InvalidArgument errors naming source:line:col; a UTF-8 BOM is fine;
// bytes from the input that are not printable ASCII are escaped (\xNN) in messages. Parsing is
// O(input) time and memory. No exception leaves these functions.
// Plugin-specific checks (unknown plugin, bad args, weight on a non-Score plugin) happen when a
// Framework is built from the profile (framework.h), with the same field paths.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/file.h"
#include "scheduler/api/plugin_args.h"

namespace gpusched::runtime {

inline constexpr int32_t kMaxPluginWeight = 100;
inline constexpr int kMaxProfileDepth = 32;          // nested sequences/maps in a profile document
inline constexpr int64_t kMaxProfileNodes = 100'000;  // scalars, sequences and maps together

struct PluginConfig {
  std::string name;
  std::optional<int32_t> weight;  // unset: 1 for Score plugins
  framework::PluginArgs args;
  // The extension points to use the plugin at; empty = every point it implements. Names:
  // QueueSort PreFilter Filter PostFilter PreScore Score Reserve Permit PreBind Bind PostBind.
  std::vector<std::string> points;
  std::string location;  // "source:line:col", for later errors
};

struct Profile {
  std::string name;
  std::vector<PluginConfig> plugins;
};

// Parses a document holding `profiles:`. `source` names it in errors (a file name).
absl::StatusOr<std::vector<Profile>> ParseProfiles(std::string_view text, std::string_view source);
// Reads (common/file.h ReadInputFile: regular files only, at most `max_bytes`; the error says
// "raise it with --max-input-mb") and parses a file.
absl::StatusOr<std::vector<Profile>> LoadProfilesFile(const std::string& path,
                                                      size_t max_bytes = kDefaultMaxInputBytes);
// The profile called `name`, or NotFound listing the names there are.
absl::StatusOr<Profile> FindProfile(const std::vector<Profile>& profiles, std::string_view name);

}  // namespace gpusched::runtime

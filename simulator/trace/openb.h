#pragma once

// Readers for the Alibaba cluster-trace-gpu-v2023 ("openb") CSV files used by the FGD paper
// (../shared/data/openb, ../shared/docs/openb-fgd.md).
//
//   ASSIGN_OR_RETURN(std::vector<OpenbNode> nodes, ReadOpenbNodes("openb_node_list_gpu_node.csv"));
//   ASSIGN_OR_RETURN(std::vector<OpenbPod> pods, ReadOpenbPods("openb_pod_list_default.csv"));
//
// Node files: header `sn,cpu_milli,memory_mib,gpu,model`.
// Pod files: the 11-column form `name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,
// pod_phase,creation_time,deletion_time,scheduled_time` or the 5-column form
// `name,cpu_milli,memory_mib,num_gpu,gpu_milli` (multigpu variants). Columns are found by header
// name, so their order does not matter; unknown extra columns are ignored.
//
// Every malformed row is an InvalidArgument error naming the file, the line (1-based, header is
// line 1), the column name and the bad value, e.g.
//   "pods.csv:17: column gpu_milli: \"12x\" is not an integer"
// Checks: numbers are non-negative integers within kMaxAmount; a node's gpu in
// 0..kMaxGpusPerNode; a pod's num_gpu in 0..kMaxGpusPerPod; gpu_milli in
// 0..1000; gpu_milli < 1000 only with num_gpu == 1 (a share of one GPU); a multi-GPU pod's
// gpu_milli is 1000; names are unique and non-empty; times, when present, are integers >= 0 and
// deletion >= creation; a header missing a required column is an error naming it. Blank lines and
// a trailing newline are fine; CRLF line ends and a UTF-8 byte order mark are accepted.
//
// Hostile input. At most kMaxOpenbNodes node rows, kMaxOpenbPods pod rows and kMaxCsvColumns
// header columns: more is an error naming the line and the limit. Bytes of the input that are not
// printable ASCII are escaped (\xNN) in messages, never echoed. Read* take the file through
// common/file.h ReadInputFile: a directory, device, pipe or socket is refused by name, and a file
// over `max_bytes` is an error saying "raise it with --max-input-mb". Parsing is one pass,
// O(input) time; memory is the records plus a hash set of the names (no reserve from the line
// count, so a file of blank lines costs nothing).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/file.h"
#include "common/quantity.h"

namespace gpusched::simulator::trace {

inline constexpr int64_t kMaxOpenbNodes = 100'000;     // node rows in one file
inline constexpr int64_t kMaxOpenbPods = 10'000'000;   // pod rows in one file (openb: ~8,200)
inline constexpr int64_t kMaxGpusPerNode = 64;  // a server holds at most 16-20 GPUs today
inline constexpr int64_t kMaxGpusPerPod = 128;  // more than one node can hold is the CLI's warning
inline constexpr size_t kMaxCsvColumns = 1024;  // header columns

struct OpenbNode {
  std::string name;
  MilliCpu cpu{0};
  MemoryBytes memory{0};  // memory_mib * 2^20
  int32_t gpus = 0;
  std::string model;      // "" for CPU-only nodes
};

struct OpenbPod {
  std::string name;
  MilliCpu cpu{0};
  MemoryBytes memory{0};
  int32_t num_gpu = 0;
  GpuMilli gpu_milli{0};               // per GPU; 1000 for whole GPUs
  std::vector<std::string> gpu_spec;   // allowed models ("A|B" split); empty = any
  std::string qos;
  std::string phase;
  std::optional<int64_t> creation_time;   // seconds from trace start
  std::optional<int64_t> deletion_time;
  std::optional<int64_t> scheduled_time;
};

absl::StatusOr<std::vector<OpenbNode>> ParseOpenbNodes(std::string_view text,
                                                       std::string_view source);
absl::StatusOr<std::vector<OpenbPod>> ParseOpenbPods(std::string_view text,
                                                     std::string_view source);
// Read the file at `path` with ReadInputFile(path, max_bytes) (NotFound naming it when missing;
// FailedPrecondition for a directory, a special file or a file over `max_bytes`) and parse it.
absl::StatusOr<std::vector<OpenbNode>> ReadOpenbNodes(const std::string& path,
                                                      size_t max_bytes = kDefaultMaxInputBytes);
absl::StatusOr<std::vector<OpenbPod>> ReadOpenbPods(const std::string& path,
                                                    size_t max_bytes = kDefaultMaxInputBytes);

// Writes the 5-column node form / 11-column pod form (empty optional times as empty fields), so
// that Parse(Write(x)) == x. Used by the sample generator.
std::string WriteOpenbNodes(const std::vector<OpenbNode>& nodes);
std::string WriteOpenbPods(const std::vector<OpenbPod>& pods);

}  // namespace gpusched::simulator::trace

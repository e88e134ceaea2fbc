#include "simulator/trace/openb.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/file.h"
#include "common/quantity.h"
#include "simulator/trace/text.h"

namespace gpusched::simulator::trace {
namespace {

constexpr int64_t kMaxMib = kMaxAmount >> 20;  // so that mib << 20 <= kMaxAmount

// absl here may use its own absl::string_view; convert explicitly at every absl call.
absl::string_view AsAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// A value quoted for an error message: C-escaped, and cut if very long.
std::string Quote(std::string_view v) {
  constexpr size_t kMaxShown = 80;
  std::string shown = absl::CHexEscape(AsAbsl(v.substr(0, kMaxShown)));
  return absl::StrCat("\"", shown, v.size() > kMaxShown ? "...\"" : "\"");
}

// Errors for one row of one file, in the documented form "<source>:<line>: column <name>: <what>".
struct RowContext {
  std::string_view source;
  int64_t line = 0;

  absl::Status ColumnError(std::string_view column, std::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(std::string(source), ":", line, ": column ",
                                                   NameForMessage(column), ": ",
                                                   std::string(what)));
  }
  absl::Status LineError(std::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(source), ":", line, ": ", std::string(what)));
  }
};

// Parses a non-negative decimal integer exactly (digits only) and checks it is at most `max`.
absl::StatusOr<int64_t> ParseInt(const RowContext& ctx, std::string_view column,
                                 std::string_view v, int64_t max, std::string_view unit = "") {
  if (v.empty()) return ctx.ColumnError(column, "empty, expected a non-negative integer");
  bool negative = false;
  std::string_view digits = v;
  if (digits.front() == '-') {
    negative = true;
    digits.remove_prefix(1);
  }
  if (digits.empty()) return ctx.ColumnError(column, absl::StrCat(Quote(v), " is not an integer"));
  for (char c : digits) {
    if (c < '0' || c > '9') {
      return ctx.ColumnError(column, absl::StrCat(Quote(v), " is not an integer"));
    }
  }
  if (negative) return ctx.ColumnError(column, absl::StrCat(Quote(v), " is negative"));
  // max <= kMaxAmount < 2^63 / 10, so the accumulation below cannot overflow before the check.
  int64_t value = 0;
  for (char c : digits) {
    value = value * 10 + (c - '0');
    if (value > max) {
      return ctx.ColumnError(column,
                             absl::StrCat(Quote(v), " exceeds the maximum ", max,
                                          unit.empty() ? "" : " ", std::string(unit)));
    }
  }
  return value;
}

absl::StatusOr<std::optional<int64_t>> ParseOptionalTime(const RowContext& ctx,
                                                         std::string_view column,
                                                         std::string_view v) {
  if (v.empty()) return std::optional<int64_t>();
  absl::StatusOr<int64_t> t = ParseInt(ctx, column, v, kMaxAmount);
  if (!t.ok()) return t.status();
  return std::optional<int64_t>(*t);
}

absl::StatusOr<std::vector<std::string>> ParseGpuSpec(const RowContext& ctx,
                                                      std::string_view column,
                                                      std::string_view v) {
  std::vector<std::string> models;
  if (v.empty()) return models;
  size_t start = 0;
  while (true) {
    size_t bar = v.find('|', start);
    std::string_view m =
        v.substr(start, bar == std::string_view::npos ? std::string_view::npos : bar - start);
    if (m.empty()) {
      return ctx.ColumnError(column, absl::StrCat(Quote(v), " has an empty model name"));
    }
    models.emplace_back(m);
    if (bar == std::string_view::npos) break;
    start = bar + 1;
  }
  return models;
}

// The header of a file: where each column is, by name.
class Header {
 public:
  static constexpr size_t kAbsent = static_cast<size_t>(-1);

  static absl::StatusOr<Header> Parse(std::string_view source, LineReader& reader) {
    Header h;
    std::string_view line;
    if (!reader.Next(&line, &h.line_)) {
      return absl::InvalidArgumentError(
          absl::StrCat(std::string(source), ": empty file, expected a header line"));
    }
    RowContext ctx{source, h.line_};
    if (!SplitOn(line, ',', &h.names_, kMaxCsvColumns)) {
      return ctx.LineError(absl::StrCat("more than ", kMaxCsvColumns,
                                        " columns in the header, the limit"));
    }
    for (size_t i = 0; i < h.names_.size(); ++i) {
      std::string_view name = h.names_[i];
      if (name.find('"') != std::string_view::npos) {
        return ctx.LineError(absl::StrCat("header field ", Quote(name),
                                          " contains a double quote (quoted CSV is not supported)"));
      }
      for (size_t j = 0; j < i; ++j) {
        if (h.names_[j] == name && !name.empty()) {
          return ctx.ColumnError(name, "appears twice in the header");
        }
      }
    }
    return h;
  }

  size_t Find(std::string_view name) const {
    for (size_t i = 0; i < names_.size(); ++i) {
      if (names_[i] == name) return i;
    }
    return kAbsent;
  }

  absl::StatusOr<size_t> Require(std::string_view source, std::string_view name) const {
    size_t i = Find(name);
    if (i == kAbsent) {
      RowContext ctx{source, line_};
      std::string have;
      for (size_t j = 0; j < names_.size() && j < 32; ++j) {
        absl::StrAppend(&have, j ? "," : "", NameForMessage(names_[j]));
      }
      if (names_.size() > 32) absl::StrAppend(&have, ",... (", names_.size(), " columns)");
      return ctx.ColumnError(name, absl::StrCat("missing from the header (columns: ", have, ")"));
    }
    return i;
  }

  size_t size() const { return names_.size(); }
  std::string_view name(size_t i) const { return names_[i]; }

 private:
  std::vector<std::string_view> names_;
  int64_t line_ = 0;
};

// Splits a data row and checks its shape: no double quotes (checked first, since a quoted field
// may hold a comma and so shift the count), and as many fields as the header.
absl::Status SplitRow(const RowContext& ctx, const Header& header, std::string_view line,
                      std::vector<std::string_view>* fields) {
  // One field more than the header is enough to tell a wrong count; more are not stored.
  const bool all = SplitOn(line, ',', fields, header.size() + 1);
  if (line.find('"') != std::string_view::npos) {
    for (size_t i = 0; i < fields->size(); ++i) {
      if ((*fields)[i].find('"') == std::string_view::npos) continue;
      const std::string what = absl::StrCat(
          Quote((*fields)[i]), " contains a double quote (quoted CSV is not supported)");
      if (i < header.size()) return ctx.ColumnError(header.name(i), what);
      return ctx.LineError(absl::StrCat("field ", i + 1, ": ", what));
    }
  }
  if (fields->size() != header.size()) {
    return ctx.LineError(absl::StrCat("expected ", header.size(), " fields as in the header, got ",
                                      all ? fields->size() : CountOf(line, ',') + 1));
  }
  return absl::OkStatus();
}

// Remembers names and the line each was first seen on.
class NameSet {
 public:

  absl::Status Add(const RowContext& ctx, std::string_view column, std::string_view name) {
    if (name.empty()) return ctx.ColumnError(column, "empty name");
    auto [it, inserted] = lines_.emplace(name, ctx.line);
    if (!inserted) {
      return ctx.ColumnError(column, absl::StrCat(Quote(name), " duplicates the name on line ",
                                                  it->second));
    }
    return absl::OkStatus();
  }

 private:
  std::unordered_map<std::string_view, int64_t> lines_;
};

}  // namespace

absl::StatusOr<std::vector<OpenbNode>> ParseOpenbNodes(std::string_view text,
                                                       std::string_view source) {
  LineReader reader(text);
  absl::StatusOr<Header> header_or = Header::Parse(source, reader);
  if (!header_or.ok()) return header_or.status();
  const Header& header = *header_or;

  size_t col[5];
  static constexpr std::string_view kNames[5] = {"sn", "cpu_milli", "memory_mib", "gpu", "model"};
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<size_t> c = header.Require(source, kNames[i]);
    if (!c.ok()) return c.status();
    col[i] = *c;
  }

  // No reserve from the line count: a file of blank lines would reserve memory far beyond its size.
  std::vector<OpenbNode> nodes;
  NameSet names;
  std::vector<std::string_view> f;
  std::string_view line;
  RowContext ctx{source, 0};
  while (reader.Next(&line, &ctx.line)) {
    if (absl::Status s = SplitRow(ctx, header, line, &f); !s.ok()) return s;
    if (nodes.size() >= static_cast<size_t>(kMaxOpenbNodes)) {
      return ctx.LineError(absl::StrCat("more than ", kMaxOpenbNodes, " nodes, the limit"));
    }
    OpenbNode n;
    std::string_view name = f[col[0]];
    if (absl::Status s = names.Add(ctx, kNames[0], name); !s.ok()) return s;
    n.name = std::string(name);

    absl::StatusOr<int64_t> cpu = ParseInt(ctx, kNames[1], f[col[1]], kMaxAmount);
    if (!cpu.ok()) return cpu.status();
    n.cpu = MilliCpu(*cpu);

    absl::StatusOr<int64_t> mib = ParseInt(ctx, kNames[2], f[col[2]], kMaxMib, "MiB");
    if (!mib.ok()) return mib.status();
    n.memory = MemoryBytes(*mib << 20);

    absl::StatusOr<int64_t> gpus = ParseInt(ctx, kNames[3], f[col[3]], kMaxGpusPerNode);
    if (!gpus.ok()) return gpus.status();
    n.gpus = static_cast<int32_t>(*gpus);

    n.model = std::string(f[col[4]]);
    if (n.gpus > 0 && n.model.empty()) {
      return ctx.ColumnError(kNames[4], absl::StrCat("empty, but the node has ", n.gpus,
                                                     " GPUs (a GPU node needs its model)"));
    }
    nodes.push_back(std::move(n));
  }
  return nodes;
}

absl::StatusOr<std::vector<OpenbPod>> ParseOpenbPods(std::string_view text,
                                                     std::string_view source) {
  LineReader reader(text);
  absl::StatusOr<Header> header_or = Header::Parse(source, reader);
  if (!header_or.ok()) return header_or.status();
  const Header& header = *header_or;

  enum Col { kName, kCpu, kMem, kNumGpu, kGpuMilli, kRequired };
  static constexpr std::string_view kNames[kRequired] = {"name", "cpu_milli", "memory_mib",
                                                         "num_gpu", "gpu_milli"};
  size_t col[kRequired];
  for (int i = 0; i < kRequired; ++i) {
    absl::StatusOr<size_t> c = header.Require(source, kNames[i]);
    if (!c.ok()) return c.status();
    col[i] = *c;
  }
  const size_t col_spec = header.Find("gpu_spec");
  const size_t col_qos = header.Find("qos");
  std::string_view phase_name = "pod_phase";
  size_t col_phase = header.Find(phase_name);
  if (col_phase == Header::kAbsent) {
    phase_name = "pod_phrase";  // the trace README's spelling
    col_phase = header.Find(phase_name);
  }
  const size_t col_created = header.Find("creation_time");
  const size_t col_deleted = header.Find("deletion_time");
  const size_t col_scheduled = header.Find("scheduled_time");

  std::vector<OpenbPod> pods;
  NameSet names;
  std::vector<std::string_view> f;
  std::string_view line;
  RowContext ctx{source, 0};
  while (reader.Next(&line, &ctx.line)) {
    if (absl::Status s = SplitRow(ctx, header, line, &f); !s.ok()) return s;
    if (pods.size() >= static_cast<size_t>(kMaxOpenbPods)) {
      return ctx.LineError(absl::StrCat("more than ", kMaxOpenbPods, " pods, the limit"));
    }
    OpenbPod p;
    std::string_view name = f[col[kName]];
    if (absl::Status s = names.Add(ctx, kNames[kName], name); !s.ok()) return s;
    p.name = std::string(name);

    absl::StatusOr<int64_t> cpu = ParseInt(ctx, kNames[kCpu], f[col[kCpu]], kMaxAmount);
    if (!cpu.ok()) return cpu.status();
    p.cpu = MilliCpu(*cpu);

    absl::StatusOr<int64_t> mib = ParseInt(ctx, kNames[kMem], f[col[kMem]], kMaxMib, "MiB");
    if (!mib.ok()) return mib.status();
    p.memory = MemoryBytes(*mib << 20);

    absl::StatusOr<int64_t> num_gpu =
        ParseInt(ctx, kNames[kNumGpu], f[col[kNumGpu]], kMaxGpusPerPod);
    if (!num_gpu.ok()) return num_gpu.status();
    p.num_gpu = static_cast<int32_t>(*num_gpu);

    std::string_view milli_text = f[col[kGpuMilli]];
    absl::StatusOr<int64_t> milli =
        ParseInt(ctx, kNames[kGpuMilli], milli_text, kOneGpu.value());
    if (!milli.ok()) return milli.status();
    p.gpu_milli = GpuMilli(*milli);
    if (p.num_gpu == 0 && *milli != 0) {
      return ctx.ColumnError(kNames[kGpuMilli],
                             absl::StrCat(Quote(milli_text),
                                          " but num_gpu is 0 (a CPU-only pod has gpu_milli 0)"));
    }
    if (p.num_gpu == 1 && *milli == 0) {
      return ctx.ColumnError(kNames[kGpuMilli],
                             absl::StrCat(Quote(milli_text),
                                          " but num_gpu is 1 (a GPU pod needs 1..1000 milli)"));
    }
    if (p.num_gpu > 1 && *milli != kOneGpu.value()) {
      return ctx.ColumnError(
          kNames[kGpuMilli],
          absl::StrCat(Quote(milli_text), " but num_gpu is ", p.num_gpu,
                       " (a share of one GPU needs num_gpu 1; a multi-GPU pod takes whole GPUs, "
                       "gpu_milli 1000)"));
    }

    if (col_spec != Header::kAbsent) {
      absl::StatusOr<std::vector<std::string>> spec =
          ParseGpuSpec(ctx, "gpu_spec", f[col_spec]);
      if (!spec.ok()) return spec.status();
      p.gpu_spec = *std::move(spec);
    }
    if (col_qos != Header::kAbsent) p.qos = std::string(f[col_qos]);
    if (col_phase != Header::kAbsent) p.phase = std::string(f[col_phase]);

    if (col_created != Header::kAbsent) {
      auto t = ParseOptionalTime(ctx, "creation_time", f[col_created]);
      if (!t.ok()) return t.status();
      p.creation_time = *t;
    }
    if (col_deleted != Header::kAbsent) {
      auto t = ParseOptionalTime(ctx, "deletion_time", f[col_deleted]);
      if (!t.ok()) return t.status();
      p.deletion_time = *t;
    }
    if (col_scheduled != Header::kAbsent) {
      auto t = ParseOptionalTime(ctx, "scheduled_time", f[col_scheduled]);
      if (!t.ok()) return t.status();
      p.scheduled_time = *t;
    }
    if (p.creation_time && p.deletion_time && *p.deletion_time < *p.creation_time) {
      return ctx.ColumnError("deletion_time",
                             absl::StrCat(Quote(f[col_deleted]), " is before creation_time ",
                                          *p.creation_time));
    }
    pods.push_back(std::move(p));
  }
  return pods;
}

absl::StatusOr<std::vector<OpenbNode>> ReadOpenbNodes(const std::string& path,
                                                      size_t max_bytes) {
  absl::StatusOr<std::string> text = ReadInputFile(path, max_bytes, kMaxInputHint);
  if (!text.ok()) return text.status();
  return ParseOpenbNodes(*text, path);
}

absl::StatusOr<std::vector<OpenbPod>> ReadOpenbPods(const std::string& path, size_t max_bytes) {
  absl::StatusOr<std::string> text = ReadInputFile(path, max_bytes, kMaxInputHint);
  if (!text.ok()) return text.status();
  return ParseOpenbPods(*text, path);
}

std::string WriteOpenbNodes(const std::vector<OpenbNode>& nodes) {
  std::string out = "sn,cpu_milli,memory_mib,gpu,model\n";
  out.reserve(out.size() + nodes.size() * 48);
  for (const OpenbNode& n : nodes) {
    absl::StrAppend(&out, n.name, ",", n.cpu.value(), ",", n.memory.value() >> 20, ",", n.gpus,
                    ",", n.model, "\n");
  }
  return out;
}

std::string WriteOpenbPods(const std::vector<OpenbPod>& pods) {
  std::string out =
      "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,"
      "deletion_time,scheduled_time\n";
  out.reserve(out.size() + pods.size() * 80);
  auto time = [](const std::optional<int64_t>& t) {
    return t.has_value() ? absl::StrCat(*t) : std::string();
  };
  for (const OpenbPod& p : pods) {
    absl::StrAppend(&out, p.name, ",", p.cpu.value(), ",", p.memory.value() >> 20, ",",
                    p.num_gpu, ",", p.gpu_milli.value(), ",", absl::StrJoin(p.gpu_spec, "|"),
                    ",", p.qos, ",", p.phase, ",");
    absl::StrAppend(&out, time(p.creation_time), ",", time(p.deletion_time), ",",
                    time(p.scheduled_time), "\n");
  }
  return out;
}

}  // namespace gpusched::simulator::trace

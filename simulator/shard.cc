#include "simulator/shard.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <initializer_list>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/printable.h"
#include "nlohmann/json.hpp"
#include "simulator/html.h"
#include "simulator/results.h"

namespace gpusched::simulator {
namespace {

namespace fs = std::filesystem;
// Ordered, so the file lists fields in the order written here and settings keep their order.
using Json = nlohmann::ordered_json;

// Nesting deeper than this is refused while parsing: the format needs 5 levels, and a hostile
// "[[[[..." must not cost deep recursion.
constexpr int kMaxDepth = 16;

// ---------------------------------------------------------------------------------------------
// Writing

// Exact doubles: the shortest decimal that reads back to the same bits (nlohmann's dtoa), and
// strings for the values JSON has no number for.
Json ExactDouble(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  return x;
}

Json ExactOptional(const std::optional<double>& x) {
  return x.has_value() ? ExactDouble(*x) : Json(nullptr);
}

Json RunJson(size_t position, const RunResult& r) {
  Json j = Json::object();
  j["position"] = position;
  j["policy"] = r.policy;
  j["seed"] = r.seed;
  j["mode"] = r.mode;
  j["nodes"] = r.nodes;
  j["gpu_capacity_milli"] = r.gpu_capacity_milli;
  j["pods_arrived"] = r.pods_arrived;
  j["pods_scheduled"] = r.pods_scheduled;
  j["pods_failed"] = r.pods_failed;
  j["unallocated_at_100"] = ExactOptional(r.unallocated_at_100);
  j["unallocated_at_130"] = ExactOptional(r.unallocated_at_130);
  j["empty_frag_amount_pct"] = ExactDouble(r.empty_frag_amount_pct);
  j["multi_gpu_pods_on_topology"] = r.multi_gpu_pods_on_topology;
  j["mean_multi_gpu_min_bandwidth_gbps"] = ExactDouble(r.mean_multi_gpu_min_bandwidth_gbps);
  Json bw = Json::array();
  for (const auto& [gpus, v] : r.min_bandwidth_by_gpu_count) {
    Json e = Json::object();
    e["gpus"] = gpus;
    e["pods"] = v.first;
    e["mean_gbps"] = ExactDouble(v.second);
    bw.push_back(std::move(e));
  }
  j["min_bandwidth_by_gpu_count"] = std::move(bw);
  j["node_gpu_alloc_milli"] = r.node_gpu_alloc_milli;
  j["decision_log_digest"] = r.decision_log_digest;
  j["wall_seconds"] = ExactDouble(r.wall_seconds);
  Json curve = Json::array();
  for (const CurvePoint& p : r.curve) {
    Json e = Json::object();
    e["arrived_pct"] = p.arrived_pct;
    e["unallocated_pct"] = ExactDouble(p.unallocated_pct);
    e["frag_amount_pct"] = ExactDouble(p.frag_amount_pct);
    e["frag_ratio_pct"] = ExactDouble(p.frag_ratio_pct);
    e["failed_pods"] = p.failed_pods;
    curve.push_back(std::move(e));
  }
  j["curve"] = std::move(curve);
  return j;
}

Json IdentityJson(const SweepIdentity& s) {
  Json j = Json::object();
  j["policies"] = s.policies;
  j["seeds"] = s.seeds;
  j["title"] = s.title;
  j["warnings"] = s.warnings;
  j["bandwidth_table"] = s.bandwidth_table;
  Json settings = Json::object();
  for (const auto& [k, v] : s.settings) settings[k] = v;
  j["settings"] = std::move(settings);
  return j;
}

// ---------------------------------------------------------------------------------------------
// Reading. A problem is thrown as Bad (path, what) from deep inside and turned into one status
// at the top, so that the field readers stay one line each.

struct Bad {
  std::string path, what;
};

[[noreturn]] void Refuse(const std::string& path, std::string what) {
  throw Bad{path, std::move(what)};
}

std::string Sub(const std::string& path, const std::string& key) {
  return path.empty() ? std::string(key) : absl::StrCat(path, ".", key);
}
std::string At(const std::string& path, size_t i) { return absl::StrCat(path, "[", i, "]"); }

const char* KindOf(const Json& j) {
  if (j.is_number_integer()) return "an integer";
  if (j.is_number_float()) return "a fractional number";
  if (j.is_string()) return "a string";
  if (j.is_boolean()) return "a boolean";
  if (j.is_null()) return "null";
  if (j.is_array()) return "an array";
  return "an object";
}

[[noreturn]] void WrongType(const Json& j, const std::string& path, const std::string& expected) {
  Refuse(path, absl::StrCat("expected ", expected, ", got ", KindOf(j)));
}

// The members of an object: exactly `keys`, so a misspelt or extra field is seen, not ignored.
const Json& Object(const Json& j, const std::string& path, std::initializer_list<const char*> keys) {
  if (!j.is_object()) WrongType(j, path, "an object");
  for (const char* k : keys) {
    if (!j.contains(k)) Refuse(Sub(path, k), "missing");
  }
  for (const auto& [k, v] : j.items()) {
    if (std::find_if(keys.begin(), keys.end(), [&](const char* x) { return k == x; }) ==
        keys.end()) {
      Refuse(Sub(path, EscapeForMessage(k, 40)), "unknown field");
    }
  }
  return j;
}

const Json& Array(const Json& j, const std::string& path) {
  if (!j.is_array()) WrongType(j, path, "an array");
  return j;
}

std::string String(const Json& j, const std::string& path) {
  if (!j.is_string()) WrongType(j, path, "a string");
  return j.get<std::string>();
}

bool Bool(const Json& j, const std::string& path) {
  if (!j.is_boolean()) WrongType(j, path, "a boolean");
  return j.get<bool>();
}

uint64_t Unsigned(const Json& j, const std::string& path) {
  if (!j.is_number_unsigned()) {
    if (j.is_number_integer()) Refuse(path, absl::StrCat("must not be negative, got ", j.dump()));
    WrongType(j, path, "an integer");
  }
  return j.get<uint64_t>();
}

int64_t Signed(const Json& j, const std::string& path, int64_t lo = std::numeric_limits<int64_t>::min(),
               int64_t hi = std::numeric_limits<int64_t>::max()) {
  if (!j.is_number_integer()) WrongType(j, path, "an integer");
  if (j.is_number_unsigned() &&
      j.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    Refuse(path, absl::StrCat("out of range, got ", j.dump()));
  }
  const int64_t v = j.get<int64_t>();
  if (v < lo || v > hi) Refuse(path, absl::StrCat("must be in ", lo, "..", hi, ", got ", v));
  return v;
}

double Double(const Json& j, const std::string& path) {
  if (j.is_number()) return j.get<double>();
  if (j.is_string()) {
    const std::string s = j.get<std::string>();
    if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
    if (s == "inf") return std::numeric_limits<double>::infinity();
    if (s == "-inf") return -std::numeric_limits<double>::infinity();
  }
  WrongType(j, path, "a number (or \"nan\", \"inf\", \"-inf\")");
}

std::optional<double> OptionalDouble(const Json& j, const std::string& path) {
  if (j.is_null()) return std::nullopt;
  return Double(j, path);
}

std::vector<std::string> Strings(const Json& j, const std::string& path) {
  std::vector<std::string> out;
  for (size_t i = 0; i < Array(j, path).size(); ++i) out.push_back(String(j[i], At(path, i)));
  return out;
}

SweepIdentity ReadIdentity(const Json& j, const std::string& path) {
  Object(j, path, {"policies", "seeds", "title", "warnings", "bandwidth_table", "settings"});
  SweepIdentity s;
  s.policies = Strings(j["policies"], Sub(path, "policies"));
  if (s.policies.empty()) Refuse(Sub(path, "policies"), "empty (a sweep has at least one policy)");
  std::set<std::string> policies;
  for (size_t i = 0; i < s.policies.size(); ++i) {
    // The report groups runs by policy name: a name twice would merge two policies' runs.
    if (!policies.insert(s.policies[i]).second) {
      Refuse(At(Sub(path, "policies"), i),
             absl::StrCat(QuoteForMessage(s.policies[i]), " is listed twice"));
    }
  }
  const std::string seeds_path = Sub(path, "seeds");
  std::set<uint64_t> seeds;
  for (size_t i = 0; i < Array(j["seeds"], seeds_path).size(); ++i) {
    s.seeds.push_back(Unsigned(j["seeds"][i], At(seeds_path, i)));
    if (!seeds.insert(s.seeds.back()).second) {
      Refuse(At(seeds_path, i), absl::StrCat("seed ", s.seeds.back(), " is listed twice"));
    }
  }
  if (s.seeds.empty()) Refuse(seeds_path, "empty (a sweep has at least one seed)");
  s.title = String(j["title"], Sub(path, "title"));
  s.warnings = Strings(j["warnings"], Sub(path, "warnings"));
  s.bandwidth_table = Bool(j["bandwidth_table"], Sub(path, "bandwidth_table"));
  const std::string settings_path = Sub(path, "settings");
  if (!j["settings"].is_object()) WrongType(j["settings"], settings_path, "an object");
  for (const auto& [k, v] : j["settings"].items()) {
    s.settings.emplace_back(k, String(v, Sub(settings_path, EscapeForMessage(k, 40))));
  }
  return s;
}

RunResult ReadRun(const Json& j, const std::string& path) {
  Object(j, path,
         {"position", "policy", "seed", "mode", "nodes", "gpu_capacity_milli", "pods_arrived",
          "pods_scheduled", "pods_failed", "unallocated_at_100", "unallocated_at_130",
          "empty_frag_amount_pct", "multi_gpu_pods_on_topology",
          "mean_multi_gpu_min_bandwidth_gbps", "min_bandwidth_by_gpu_count",
          "node_gpu_alloc_milli", "decision_log_digest", "wall_seconds", "curve"});
  auto f = [&](const char* key) { return Sub(path, key); };
  RunResult r;
  r.policy = String(j["policy"], f("policy"));
  r.seed = Unsigned(j["seed"], f("seed"));
  r.mode = String(j["mode"], f("mode"));
  r.nodes = Signed(j["nodes"], f("nodes"));
  r.gpu_capacity_milli = Signed(j["gpu_capacity_milli"], f("gpu_capacity_milli"));
  r.pods_arrived = Signed(j["pods_arrived"], f("pods_arrived"));
  r.pods_scheduled = Signed(j["pods_scheduled"], f("pods_scheduled"));
  r.pods_failed = Signed(j["pods_failed"], f("pods_failed"));
  r.unallocated_at_100 = OptionalDouble(j["unallocated_at_100"], f("unallocated_at_100"));
  r.unallocated_at_130 = OptionalDouble(j["unallocated_at_130"], f("unallocated_at_130"));
  r.empty_frag_amount_pct = Double(j["empty_frag_amount_pct"], f("empty_frag_amount_pct"));
  r.multi_gpu_pods_on_topology =
      Signed(j["multi_gpu_pods_on_topology"], f("multi_gpu_pods_on_topology"));
  r.mean_multi_gpu_min_bandwidth_gbps =
      Double(j["mean_multi_gpu_min_bandwidth_gbps"], f("mean_multi_gpu_min_bandwidth_gbps"));
  const std::string bw_path = f("min_bandwidth_by_gpu_count");
  const Json& bw = Array(j["min_bandwidth_by_gpu_count"], bw_path);
  for (size_t i = 0; i < bw.size(); ++i) {
    const std::string at = At(bw_path, i);
    Object(bw[i], at, {"gpus", "pods", "mean_gbps"});
    const int gpus = static_cast<int>(Signed(bw[i]["gpus"], Sub(at, "gpus"), 0,
                                             std::numeric_limits<int>::max()));
    const bool fresh =
        r.min_bandwidth_by_gpu_count
            .emplace(gpus, std::make_pair(Signed(bw[i]["pods"], Sub(at, "pods")),
                                          Double(bw[i]["mean_gbps"], Sub(at, "mean_gbps"))))
            .second;
    if (!fresh) Refuse(Sub(at, "gpus"), absl::StrCat(gpus, " GPUs is listed twice"));
  }
  const std::string alloc_path = f("node_gpu_alloc_milli");
  const Json& alloc = Array(j["node_gpu_alloc_milli"], alloc_path);
  r.node_gpu_alloc_milli.reserve(alloc.size());
  for (size_t i = 0; i < alloc.size(); ++i) {
    r.node_gpu_alloc_milli.push_back(
        static_cast<int16_t>(Signed(alloc[i], At(alloc_path, i), -1, 1000)));
  }
  r.decision_log_digest = String(j["decision_log_digest"], f("decision_log_digest"));
  r.wall_seconds = Double(j["wall_seconds"], f("wall_seconds"));
  const std::string curve_path = f("curve");
  const Json& curve = Array(j["curve"], curve_path);
  r.curve.reserve(curve.size());
  for (size_t i = 0; i < curve.size(); ++i) {
    const std::string at = At(curve_path, i);
    Object(curve[i], at,
           {"arrived_pct", "unallocated_pct", "frag_amount_pct", "frag_ratio_pct", "failed_pods"});
    CurvePoint p;
    p.arrived_pct = static_cast<int>(Signed(curve[i]["arrived_pct"], Sub(at, "arrived_pct"),
                                            std::numeric_limits<int>::min(),
                                            std::numeric_limits<int>::max()));
    p.unallocated_pct = Double(curve[i]["unallocated_pct"], Sub(at, "unallocated_pct"));
    p.frag_amount_pct = Double(curve[i]["frag_amount_pct"], Sub(at, "frag_amount_pct"));
    p.frag_ratio_pct = Double(curve[i]["frag_ratio_pct"], Sub(at, "frag_ratio_pct"));
    p.failed_pods = Signed(curve[i]["failed_pods"], Sub(at, "failed_pods"));
    r.curve.push_back(p);
  }
  return r;
}

// Parses JSON refusing repeated keys (nlohmann would keep the last one silently) and deep
// nesting; the error names the field path of the repeated key.
Json ParseStrict(std::string_view text) {
  struct Frame {
    bool array = false;
    size_t index = 0;     // arrays: the element being read
    std::string key;      // objects: the member being read
    std::set<std::string> keys;
  };
  std::vector<Frame> frames;
  auto path = [&] {
    std::string p;
    for (const Frame& f : frames) {
      p = f.array ? At(p, f.index) : Sub(p, EscapeForMessage(f.key, 40));
    }
    return p;
  };
  auto element_done = [&] {
    if (!frames.empty() && frames.back().array) ++frames.back().index;
  };
  auto guard = [&](int depth, Json::parse_event_t event, Json& parsed) {
    using E = Json::parse_event_t;
    if (depth > kMaxDepth) {
      throw Bad{path(), absl::StrCat("nested deeper than ", kMaxDepth, " levels")};
    }
    switch (event) {
      case E::object_start:
      case E::array_start:
        frames.push_back(Frame{event == E::array_start, 0, "", {}});
        break;
      case E::object_end:
      case E::array_end:
        if (!frames.empty()) frames.pop_back();
        element_done();
        break;
      case E::key: {
        std::string key = parsed.get<std::string>();
        if (!frames.empty()) {
          if (!frames.back().keys.insert(key).second) {
            frames.back().key = key;
            throw Bad{path(), "repeated key"};
          }
          frames.back().key = std::move(key);
        }
        break;
      }
      case E::value:
        element_done();
        break;
    }
    return true;
  };
  // A UTF-8 byte order mark is accepted, as by every other reader of the project.
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  return Json::parse(text.begin(), text.end(), guard);
}

// The first place where `a` and `b` differ: (path, a's value, b's value) as short text.
struct Difference {
  std::string path, a, b;
};

// JSON text with every non-ASCII byte escaped (ensure_ascii), so it is safe in a message.
std::string Shown(const Json* j) {
  if (j == nullptr) return "absent";
  std::string s = j->dump(-1, ' ', /*ensure_ascii=*/true, Json::error_handler_t::replace);
  if (s.size() > 80) s = s.substr(0, 80) + "...";
  return s;
}

std::optional<Difference> FirstDifference(const Json& a, const Json& b, const std::string& path) {
  if (a.is_object() && b.is_object()) {
    for (const auto& [k, v] : a.items()) {
      const std::string at = Sub(path, EscapeForMessage(k, 40));
      if (!b.contains(k)) return Difference{at, Shown(&v), Shown(nullptr)};
      if (auto d = FirstDifference(v, b[k], at)) return d;
    }
    for (const auto& [k, v] : b.items()) {
      if (!a.contains(k)) {
        return Difference{Sub(path, EscapeForMessage(k, 40)), Shown(nullptr), Shown(&v)};
      }
    }
    return std::nullopt;
  }
  if (a.is_array() && b.is_array()) {
    for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
      if (auto d = FirstDifference(a[i], b[i], At(path, i))) return d;
    }
    if (a.size() != b.size()) {
      return Difference{path, absl::StrCat(a.size(), " items"), absl::StrCat(b.size(), " items")};
    }
    return std::nullopt;
  }
  if (a == b) return std::nullopt;
  return Difference{path, Shown(&a), Shown(&b)};
}

// Runs of shard `index` of `count` in a sweep of `total`: ceil((total - index) / count).
size_t ShardSize(size_t total, int index, int count) {
  const size_t i = static_cast<size_t>(index), n = static_cast<size_t>(count);
  return total > i ? (total - i - 1) / n + 1 : 0;
}

}  // namespace

std::string ShardFileName(int index, int count) {
  return absl::StrCat("shard-", index, "-of-", count, ".json");
}

bool IsShardFileName(std::string_view name) {
  auto digits = [&](std::string_view& s) {
    size_t n = 0;
    while (n < s.size() && n < 7 && std::isdigit(static_cast<unsigned char>(s[n]))) ++n;
    s.remove_prefix(n);
    return n > 0;
  };
  if (!name.starts_with("shard-")) return false;
  name.remove_prefix(6);
  if (!digits(name) || !name.starts_with("-of-")) return false;
  name.remove_prefix(4);
  return digits(name) && name == ".json";
}

std::vector<size_t> ShardPositions(size_t total, int index, int count) {
  std::vector<size_t> out;
  if (count < 1 || index < 0 || index >= count) return out;
  out.reserve(ShardSize(total, index, count));
  for (size_t p = static_cast<size_t>(index); p < total; p += static_cast<size_t>(count)) {
    out.push_back(p);
  }
  return out;
}

std::string Fnv1a64Hex(std::string_view bytes) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return absl::StrFormat("%016x", h);
}

absl::StatusOr<std::string> ShardJson(const Shard& shard) {
  const std::vector<size_t> positions = ShardPositions(shard.sweep.total_runs(), shard.index,
                                                       shard.count);
  if (shard.count < 1 || shard.index < 0 || shard.index >= shard.count ||
      positions.size() != shard.runs.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "shard ", shard.index, "/", shard.count, " of a ", shard.sweep.total_runs(),
        "-run sweep has ", positions.size(), " runs, not ", shard.runs.size()));
  }
  try {
    Json root = Json::object();
    root["format"] = kShardFormat;
    root["version"] = kShardFormatVersion;
    Json where = Json::object();
    where["index"] = shard.index;
    where["count"] = shard.count;
    root["shard"] = std::move(where);
    root["sweep"] = IdentityJson(shard.sweep);
    Json runs = Json::array();
    for (size_t k = 0; k < positions.size(); ++k) runs.push_back(RunJson(positions[k], shard.runs[k]));
    root["runs"] = std::move(runs);
    // Invalid UTF-8 (a policy or file name) is replaced rather than refused, as in summary.json.
    return root.dump(1, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace) + "\n";
  } catch (const std::exception& e) {  // allocation failures
    return absl::InternalError(absl::StrCat("encoding shard ", shard.index, "/", shard.count,
                                            ": ", e.what()));
  }
}

absl::StatusOr<std::string> WriteShardFile(const std::string& dir, const Shard& shard) {
  absl::StatusOr<std::string> text = ShardJson(shard);
  if (!text.ok()) return text.status();
  if (absl::Status s = MakeReportDir(dir); !s.ok()) return s;
  const fs::path final_path = fs::path(dir) / ShardFileName(shard.index, shard.count);
  // The temporary name is unique per host and process: a retried shard (Kubernetes restarts a
  // pod while the old one may still be writing) must not interleave with another writer.
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  std::string tag;
  for (const char* c = host; *c != '\0'; ++c) {
    tag.push_back(std::isalnum(static_cast<unsigned char>(*c)) || *c == '-' ? *c : '_');
  }
  const fs::path tmp = fs::path(dir) / absl::StrCat(".", ShardFileName(shard.index, shard.count),
                                                    ".", tag, ".", ::getpid(), ".tmp");
  if (absl::Status s = WriteFile(tmp, *text); !s.ok()) return s;
  std::error_code ec;
  fs::rename(tmp, final_path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return IoError(ec, absl::StrCat("cannot write ", final_path.string()));
  }
  return final_path.string();
}

absl::StatusOr<Shard> ParseShard(std::string_view text, std::string_view source) {
  const std::string src(source);
  Json root;
  try {
    root = ParseStrict(text);
  } catch (const Bad& b) {
    return absl::InvalidArgumentError(absl::StrCat(src, ": ", b.path.empty() ? "" : b.path + ": ",
                                                   b.what));
  } catch (const std::exception& e) {  // nlohmann's parse error names the line and column
    return absl::InvalidArgumentError(absl::StrCat(
        src, ": not a shard file: invalid JSON", text.empty() ? " (the file is empty)" : "",
        ": ", EscapeForMessage(e.what(), 300)));
  }
  try {
    Object(root, "", {"format", "version", "shard", "sweep", "runs"});
    if (const std::string f = String(root["format"], "format"); f != kShardFormat) {
      Refuse("format", absl::StrCat("expected ", QuoteForMessage(kShardFormat), ", got ",
                                    QuoteForMessage(f)));
    }
    if (const int64_t v = Signed(root["version"], "version"); v != kShardFormatVersion) {
      Refuse("version", absl::StrCat("this gpusched reads version ", kShardFormatVersion,
                                     ", the file is version ", v));
    }
    Object(root["shard"], "shard", {"index", "count"});
    Shard s;
    s.count = static_cast<int>(Signed(root["shard"]["count"], "shard.count", 1, kMaxShards));
    s.index = static_cast<int>(Signed(root["shard"]["index"], "shard.index", 0, s.count - 1));
    s.sweep = ReadIdentity(root["sweep"], "sweep");
    const Json& runs = Array(root["runs"], "runs");
    const size_t total = s.sweep.total_runs(), seeds = s.sweep.seeds.size();
    const size_t expected = ShardSize(total, s.index, s.count);
    if (runs.size() != expected) {
      Refuse("runs", absl::StrCat(runs.size(), runs.size() == 1 ? " run" : " runs", ", but shard ",
                                  s.index, "/", s.count, " of this ", total, "-run sweep has ",
                                  expected, " (the file is incomplete or was edited)"));
    }
    s.runs.reserve(expected);
    for (size_t k = 0; k < runs.size(); ++k) {
      const std::string at = At("runs", k);
      const size_t want = static_cast<size_t>(s.index) + k * static_cast<size_t>(s.count);
      // The position first: a run in the wrong place should say so, not "policy differs".
      if (runs[k].is_object() && runs[k].contains("position")) {
        if (const uint64_t p = Unsigned(runs[k]["position"], Sub(at, "position")); p != want) {
          Refuse(Sub(at, "position"), absl::StrCat("expected ", want, " (shard ", s.index, "/",
                                                   s.count, "'s run ", k, "), got ", p));
        }
      }
      RunResult r = ReadRun(runs[k], at);
      const std::string& policy = s.sweep.policies[want / seeds];
      const uint64_t seed = s.sweep.seeds[want % seeds];
      if (r.policy != policy) {
        Refuse(Sub(at, "policy"), absl::StrCat("expected ", QuoteForMessage(policy), " at position ",
                                               want, ", got ", QuoteForMessage(r.policy)));
      }
      if (r.seed != seed) {
        Refuse(Sub(at, "seed"),
               absl::StrCat("expected ", seed, " at position ", want, ", got ", r.seed));
      }
      s.runs.push_back(std::move(r));
    }
    return s;
  } catch (const Bad& b) {
    return absl::InvalidArgumentError(absl::StrCat(src, ": ", b.path.empty() ? "" : b.path + ": ",
                                                   b.what));
  } catch (const std::exception& e) {  // not expected: every access is checked first
    return absl::InvalidArgumentError(absl::StrCat(src, ": ", EscapeForMessage(e.what(), 200)));
  }
}

absl::StatusOr<MergedSweep> MergeShards(const std::vector<NamedShard>& shards) {
  if (shards.empty()) return absl::InvalidArgumentError("no shard files to merge");
  const NamedShard& first = shards.front();
  const int count = first.shard.count;
  if (count < 1 || count > kMaxShards) {  // ParseShard refuses these
    return absl::InvalidArgumentError(
        absl::StrCat(first.source, ": shard.count ", count, " is not in 1..", kMaxShards));
  }
  const Json identity = IdentityJson(first.shard.sweep);
  // Who holds each shard index, to name both files of a duplicate.
  std::vector<const NamedShard*> holder(static_cast<size_t>(count), nullptr);
  for (const NamedShard& n : shards) {
    if (n.shard.count != count) {
      return absl::InvalidArgumentError(absl::StrCat(
          n.source, ": shard.count is ", n.shard.count, ", but ", first.source, " has ", count,
          ": shards of different splits do not merge"));
    }
    if (&n != &first) {
      if (auto d = FirstDifference(IdentityJson(n.shard.sweep), identity, "sweep")) {
        return absl::InvalidArgumentError(absl::StrCat(
            n.source, ": ", d->path, " is ", d->a, ", but ", first.source, " has ", d->b,
            ": shards of different sweeps do not merge"));
      }
    }
    if (n.shard.index < 0 || n.shard.index >= count) {  // ParseShard refuses these
      return absl::InvalidArgumentError(
          absl::StrCat(n.source, ": shard.index ", n.shard.index, " is not below ", count));
    }
    const NamedShard*& slot = holder[static_cast<size_t>(n.shard.index)];
    if (slot != nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("shard ", n.shard.index, "/", count,
                                                     " is given twice: ", slot->source, " and ",
                                                     n.source));
    }
    slot = &n;
  }
  std::string missing;
  int n_missing = 0;
  for (int i = 0; i < count; ++i) {
    if (holder[static_cast<size_t>(i)] != nullptr) continue;
    if (++n_missing <= 10) absl::StrAppend(&missing, n_missing > 1 ? ", " : "", i, "/", count);
  }
  if (n_missing > 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        n_missing, n_missing == 1 ? " shard is" : " shards are", " missing: ", missing,
        n_missing > 10 ? ", ..." : "", " (", shards.size(), " of ", count, " given)"));
  }
  MergedSweep merged;
  merged.sweep = first.shard.sweep;
  const size_t total = merged.sweep.total_runs();
  merged.runs.resize(total);
  for (const NamedShard& n : shards) {
    const std::vector<size_t> positions = ShardPositions(total, n.shard.index, count);
    if (positions.size() != n.shard.runs.size()) {  // ParseShard checked this; a caller may not
      return absl::InvalidArgumentError(
          absl::StrCat(n.source, ": ", n.shard.runs.size(), " runs, expected ", positions.size()));
    }
    for (size_t k = 0; k < positions.size(); ++k) merged.runs[positions[k]] = n.shard.runs[k];
  }
  return merged;
}

}  // namespace gpusched::simulator

#include "scheduler/api/resource_names.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/quantity.h"
#include "common/status_macros.h"

namespace gpusched::framework {
namespace {

using Map = std::map<std::string, std::string>;

// The largest nvidia.com/gpu accepted; far above any node, small enough that no product overflows.
constexpr int64_t kMaxGpuCount = 1024;

// HAMi annotations that constrain the device choice; read nowhere here, so they are rejected
// rather than dropped (a pod that asked for an A100 must not silently land on a T4).
constexpr std::string_view kHamiUseGpuType = "nvidia.com/use-gputype";
constexpr std::string_view kHamiNoUseGpuType = "nvidia.com/nouse-gputype";
constexpr std::string_view kHamiUseGpuUuid = "nvidia.com/use-gpuuuid";
constexpr std::string_view kHamiNoUseGpuUuid = "nvidia.com/nouse-gpuuuid";

constexpr std::string_view kGpuschedPrefix = "gpusched.io/";

// One key the pod gave, and where.
struct Given {
  bool annotation = false;
  std::string key;
  std::string value;
};

std::string Quote(const std::string& s) { return absl::StrCat("\"", absl::CHexEscape(s), "\""); }

// `resources["nvidia.com/gpu"]: "2"`
std::string Describe(const Given& g) {
  return absl::StrCat(g.annotation ? "annotations" : "resources", "[\"", absl::CHexEscape(g.key),
                      "\"]: ", Quote(g.value));
}

absl::Status Invalid(const Given& g, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(Describe(g), " ", why));
}

absl::Status Conflict(const Given& a, const Given& b, const std::string& why) {
  return absl::InvalidArgumentError(
      absl::StrCat(Describe(a), " conflicts with ", Describe(b), ": ", why));
}

std::optional<Given> Find(const Map& m, bool annotation, std::string_view key) {
  auto it = m.find(std::string(key));
  if (it == m.end()) return std::nullopt;
  return Given{annotation, it->first, it->second};
}

// True when the (already parsed) quantity text ends in a binary suffix (Ki, Mi, Gi, ...).
bool HasBinarySuffix(const std::string& text) { return !text.empty() && text.back() == 'i'; }

// True when the text is a bare number: digits, a point and a sign, no suffix or exponent.
bool IsPlainNumber(const std::string& text) {
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= '0' && c <= '9') || c == '.' || c == '+' || c == '-';
  });
}

// The value as a whole number >= 0 (the quantity's value, so "3k" is 3000). `unit` names what is
// counted ("GPUs"); `fraction_hint` is appended when the value is a number but not whole.
absl::StatusOr<int64_t> ParseWhole(const Given& g, std::string_view unit,
                                   const std::string& fraction_hint = "") {
  absl::StatusOr<Quantity> q = Quantity::Parse(g.value);
  if (!q.ok()) {
    return Invalid(g, absl::StrCat("is not a whole number of ", std::string(unit), " (",
                                   q.status().message(), ")"));
  }
  if (q->negative) return Invalid(g, "must not be negative");
  absl::StatusOr<int64_t> v = q->ToScaled(0, g.value);
  if (!v.ok()) {
    if (v.status().code() == absl::StatusCode::kOutOfRange) {
      return Invalid(g, absl::StrCat("is too large (at most ", kMaxAmount, ")"));
    }
    return Invalid(g, absl::StrCat("is not a whole number of ", std::string(unit), fraction_hint));
  }
  return *v;
}

// nvidia.com/gpu: a device count.
absl::StatusOr<int64_t> ParseGpuCount(const Given& g) {
  std::string hint;
  if (absl::StatusOr<GpuMilli> m = ParseGpuMilli(g.value);
      m.ok() && m->value() > 0 && m->value() < 1000) {
    hint = absl::StrCat("; for part of one GPU use ", std::string(kGpuMilli), ": \"", m->value(),
                        "\"");
  }
  ASSIGN_OR_RETURN(const int64_t n, ParseWhole(g, "GPUs", hint));
  if (n > kMaxGpuCount) return Invalid(g, absl::StrCat("must be in 0..", kMaxGpuCount));
  return n;
}

// gpusched.io/gpu-milli: a whole number of milli-GPU, 1..1000.
absl::StatusOr<int64_t> ParseMilli(const Given& g) {
  std::string hint;
  if (absl::StatusOr<GpuMilli> m = ParseGpuMilli(g.value);
      m.ok() && m->value() > 0 && m->value() <= 1000) {
    hint =
        absl::StrCat("; the value counts milli-GPU (1000 = one GPU): write \"", m->value(), "\"");
  }
  // "1000m" is the whole number 1 as a quantity, surely not what was meant.
  if (Quantity::Parse(g.value).ok() && g.value.back() == 'm') {
    return Invalid(
        g, absl::StrCat("must not have the \"m\" suffix",
                        hint.empty() ? "; the value counts milli-GPU (1000 = one GPU)" : hint));
  }
  ASSIGN_OR_RETURN(const int64_t milli, ParseWhole(g, "milli-GPU", hint));
  if (milli < 1 || milli > 1000) {
    return Invalid(g, "must be in 1..1000 (milli-GPU; 1000 = one GPU)");
  }
  return milli;
}

// gpusched.io/gpu-memory: a plain number is MiB; with a suffix the value is bytes, which must be
// a whole number of MiB.
absl::StatusOr<int64_t> ParseMemory(const Given& g) {
  absl::StatusOr<Quantity> q = Quantity::Parse(g.value);
  if (!q.ok()) {
    return Invalid(g, absl::StrCat("is not GPU memory (a plain number of MiB, or bytes with a "
                                   "binary suffix like \"4Gi\"): ",
                                   q.status().message()));
  }
  if (q->negative) return Invalid(g, "must not be negative");
  int64_t mib = 0;
  if (IsPlainNumber(g.value)) {
    absl::StatusOr<int64_t> v = q->ToScaled(0, g.value);
    if (!v.ok()) {
      if (v.status().code() == absl::StatusCode::kOutOfRange) {
        return Invalid(g, absl::StrCat("is too large (at most ", kMaxAmount, " MiB)"));
      }
      return Invalid(g, "is not a whole number of MiB (a plain number counts MiB)");
    }
    mib = *v;
  } else {
    absl::StatusOr<GpuMemMiB> v = ParseGpuMemMiB(g.value);
    if (!v.ok()) {
      if (v.status().code() == absl::StatusCode::kOutOfRange) {
        return Invalid(g, absl::StrCat("is too large (at most ", kMaxAmount, " MiB)"));
      }
      absl::StatusOr<int64_t> bytes = q->ToScaled(0, g.value);
      std::string why = bytes.ok()
                            ? absl::StrCat("is ", *bytes, " bytes, not a whole number of MiB")
                            : std::string("is not a whole number of MiB");
      absl::StrAppend(&why,
                      "; write MiB as a plain number (\"4096\") or bytes with a binary "
                      "suffix (\"4Gi\", \"512Mi\")");
      // The API server stores a plain 8000 as "8k": point at the spelling that survives.
      if (bytes.ok() && *bytes < (int64_t{1} << 20) && !HasBinarySuffix(g.value)) {
        absl::StrAppend(&why, "; if you meant ", *bytes, " MiB, write \"", *bytes,
                        "Mi\" (Kubernetes rewrites a plain ", *bytes, " as ", Quote(g.value), ")");
      }
      return Invalid(g, why);
    }
    mib = v->value();
  }
  if (mib < 1) return Invalid(g, "must be at least 1 MiB");
  return mib;
}

// nvidia.com/gpumem (HAMi): a whole number of MiB, no binary suffix.
absl::StatusOr<int64_t> ParseHamiMem(const Given& g) {
  if (HasBinarySuffix(g.value)) {
    std::string why = "counts MiB as a plain number (HAMi's unit), so a binary suffix is wrong";
    if (absl::StatusOr<GpuMemMiB> m = ParseGpuMemMiB(g.value); m.ok()) {
      absl::StrAppend(&why, ": write \"", m->value(), "\"");
    }
    return Invalid(g, why);
  }
  ASSIGN_OR_RETURN(const int64_t mib, ParseWhole(g, "MiB"));
  if (mib < 1) return Invalid(g, "must be at least 1 (MiB)");
  return mib;
}

// nvidia.com/gpucores (HAMi): percent of one GPU, 1..100.
absl::StatusOr<int64_t> ParseHamiCores(const Given& g) {
  ASSIGN_OR_RETURN(const int64_t pct, ParseWhole(g, "percent"));
  if (pct < 1 || pct > 100) return Invalid(g, "must be in 1..100");
  return pct;
}

// aliyun.com/gpu-mem: a whole number of GiB; returns MiB.
absl::StatusOr<int64_t> ParseAliyunMem(const Given& g) {
  if (HasBinarySuffix(g.value)) {
    std::string why = "counts GiB as a plain number (gpushare's unit), so a binary suffix is wrong";
    if (absl::StatusOr<GpuMemMiB> m = ParseGpuMemMiB(g.value); m.ok() && m->value() % 1024 == 0) {
      absl::StrAppend(&why, ": write \"", m->value() / 1024, "\"");
    }
    return Invalid(g, why);
  }
  ASSIGN_OR_RETURN(const int64_t gib, ParseWhole(g, "GiB"));
  if (gib < 1) return Invalid(g, "must be at least 1 (GiB)");
  if (gib > kMaxAmount / 1024) {
    return Invalid(g, absl::StrCat("is too large (at most ", kMaxAmount / 1024, " GiB)"));
  }
  return gib * 1024;
}

// gpusched.io/gpu-model: names split by '|' or ',', surrounding blanks ignored, duplicates dropped.
absl::StatusOr<std::vector<std::string>> ParseModels(const Given& g) {
  if (absl::StripAsciiWhitespace(g.value).empty()) {
    return Invalid(g, "is empty; list the allowed models, e.g. \"A100-SXM4-80GB|H100\"");
  }
  std::vector<std::string> models;
  int index = 0;
  for (absl::string_view part : absl::StrSplit(g.value, absl::ByAnyChar("|,"))) {
    ++index;
    const std::string name(absl::StripAsciiWhitespace(part));
    if (name.empty()) {
      return Invalid(g, absl::StrCat("has an empty model name (entry ", index,
                                     "); separate names with one '|' or ','"));
    }
    if (std::find(models.begin(), models.end(), name) == models.end()) models.push_back(name);
  }
  return models;
}

// Parses the resource and the annotation of one gpusched.io name; both given must agree.
template <class Parse>
absl::StatusOr<std::optional<int64_t>> ParseBoth(const std::optional<Given>& res,
                                                 const std::optional<Given>& ann, Parse parse) {
  std::optional<int64_t> out;
  if (res) {
    ASSIGN_OR_RETURN(const int64_t v, parse(*res));
    out = v;
  }
  if (ann) {
    ASSIGN_OR_RETURN(const int64_t v, parse(*ann));
    if (out && *out != v) {
      return Conflict(*res, *ann, "the resource and the annotation disagree; give it once");
    }
    out = v;
  }
  return out;
}

absl::Status RejectUnsupported(const Map& resources, const Map& annotations) {
  for (const auto& [key, value] : resources) {
    const Given g{false, key, value};
    if (key == kHamiGpuMemPercentage) {
      return Invalid(
          g, absl::StrCat("is not supported; use ", std::string(kHamiGpuMem), " (MiB per GPU)"));
    }
    if (key == kGpuModel) {
      return Invalid(g, "is an annotation, not a resource: set it under metadata.annotations");
    }
    if (key.starts_with(kGpuschedPrefix) && key != kGpuMilli && key != kGpuMemory) {
      return Invalid(
          g, absl::StrCat("is not a gpusched resource name (known: ", std::string(kGpuMilli), ", ",
                          std::string(kGpuMemory), "; annotation ", std::string(kGpuModel), ")"));
    }
  }
  for (std::string_view key : {kHamiUseGpuType, kHamiNoUseGpuType}) {
    if (std::optional<Given> g = Find(annotations, true, key)) {
      return Invalid(*g, absl::StrCat("is not supported (gpusched matches models exactly); use ",
                                      std::string(kGpuModel), ", e.g. \"A100-SXM4-80GB|H100\""));
    }
  }
  for (std::string_view key : {kHamiUseGpuUuid, kHamiNoUseGpuUuid}) {
    if (std::optional<Given> g = Find(annotations, true, key)) {
      return Invalid(*g, absl::StrCat("is not supported (gpusched chooses the devices itself); "
                                      "constrain the model with ",
                                      std::string(kGpuModel), " instead"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<GpuRequest> GpuRequestFromPod(const Map& resources, const Map& annotations) {
  RETURN_IF_ERROR(RejectUnsupported(resources, annotations));

  const std::optional<Given> gpu = Find(resources, false, kNvidiaGpu);
  const std::optional<Given> milli_res = Find(resources, false, kGpuMilli);
  const std::optional<Given> milli_ann = Find(annotations, true, kGpuMilli);
  const std::optional<Given> mem_res = Find(resources, false, kGpuMemory);
  const std::optional<Given> mem_ann = Find(annotations, true, kGpuMemory);
  const std::optional<Given> hami_mem = Find(resources, false, kHamiGpuMem);
  const std::optional<Given> hami_cores = Find(resources, false, kHamiGpuCores);
  const std::optional<Given> aliyun_mem = Find(resources, false, kAliyunGpuMem);
  const std::optional<Given> model = Find(annotations, true, kGpuModel);

  // Two keys for the same quantity: compute share, then memory.
  const std::optional<Given>& gs_milli = milli_res ? milli_res : milli_ann;
  const std::optional<Given>& gs_mem = mem_res ? mem_res : mem_ann;
  if (gs_milli && hami_cores) {
    return Conflict(*gs_milli, *hami_cores, "both set the compute share per GPU; keep one");
  }
  std::vector<const Given*> memory_keys;
  for (const std::optional<Given>* g : {&gs_mem, &hami_mem, &aliyun_mem}) {
    if (g->has_value()) memory_keys.push_back(&**g);
  }
  if (memory_keys.size() > 1) {
    return Conflict(*memory_keys[0], *memory_keys[1], "both set the GPU memory per GPU; keep one");
  }

  // Values.
  std::optional<int64_t> count;
  if (gpu) {
    ASSIGN_OR_RETURN(const int64_t n, ParseGpuCount(*gpu));
    count = n;
  }
  ASSIGN_OR_RETURN(std::optional<int64_t> milli, ParseBoth(milli_res, milli_ann, ParseMilli));
  const Given* milli_key = gs_milli ? &*gs_milli : nullptr;
  if (hami_cores) {
    ASSIGN_OR_RETURN(const int64_t pct, ParseHamiCores(*hami_cores));
    milli = pct * 10;
    milli_key = &*hami_cores;
  }
  ASSIGN_OR_RETURN(std::optional<int64_t> memory, ParseBoth(mem_res, mem_ann, ParseMemory));
  if (hami_mem) {
    ASSIGN_OR_RETURN(const int64_t mib, ParseHamiMem(*hami_mem));
    memory = mib;
  }
  if (aliyun_mem) {
    ASSIGN_OR_RETURN(const int64_t mib, ParseAliyunMem(*aliyun_mem));
    memory = mib;
  }
  const Given* memory_key = memory_keys.empty() ? nullptr : memory_keys[0];
  std::vector<std::string> models;
  if (model) {
    ASSIGN_OR_RETURN(models, ParseModels(*model));
  }

  // Shape.
  const Given* share_key = milli_key != nullptr ? milli_key : memory_key;
  if (share_key == nullptr && (!count || *count == 0)) {
    if (model) {
      return Invalid(*model,
                     absl::StrCat("names GPU models but the pod asks for no GPU (set ",
                                  std::string(kNvidiaGpu), " or ", std::string(kGpuMilli), ")"));
    }
    return GpuRequest{};
  }
  if (count && *count == 0) {
    return Conflict(*gpu, *share_key,
                    absl::StrCat("nvidia.com/gpu: 0 asks for no GPU but ", share_key->key,
                                 " asks for part of one; drop nvidia.com/gpu or set it to 1"));
  }

  GpuRequest req;
  req.count = static_cast<int32_t>(count.value_or(1));
  if (milli) {
    req.milli_per_gpu = GpuMilli(*milli);
  } else if (hami_mem || aliyun_mem) {
    req.milli_per_gpu = GpuMilli(0);  // HAMi and gpushare memory requests are shares
  } else if (count) {
    req.milli_per_gpu = kOneGpu;  // nvidia.com/gpu alone (or with a memory minimum): whole GPUs
  } else {
    req.milli_per_gpu = GpuMilli(0);  // gpusched.io/gpu-memory alone: a memory-only share
  }
  req.memory_per_gpu = GpuMemMiB(memory.value_or(0));
  req.models = std::move(models);

  if (req.count > 1 && req.milli_per_gpu < kOneGpu) {
    const Given& why_share = (milli && *milli < 1000) ? *milli_key : *memory_key;
    std::string detail;
    if (why_share.key == kGpuMilli) {
      detail = "a share is of one GPU, so with several GPUs gpusched.io/gpu-milli must be 1000";
    } else if (why_share.key == kHamiGpuMem || why_share.key == kHamiGpuCores) {
      detail =
          "HAMi can place several partial vGPUs on different cards; gpusched does not model "
          "that yet";
    } else {
      detail = "gpushare shares one GPU per pod";
    }
    return Conflict(*gpu, why_share,
                    absl::StrCat("shares of more than one GPU are not supported (", detail,
                                 "); ask for whole GPUs or nvidia.com/gpu: 1"));
  }

  RETURN_IF_ERROR(ValidateGpuRequest(req));
  return req;
}

}  // namespace gpusched::framework

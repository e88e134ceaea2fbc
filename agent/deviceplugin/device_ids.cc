#include "agent/deviceplugin/device_ids.h"

#include <algorithm>
#include <optional>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace gpusched::agent::deviceplugin {
namespace {

// The GPU index an ID belongs to, or nullopt when it is not one of the resource's IDs.
std::optional<int> GpuOf(ResourceKind kind, const std::vector<GpuRef>& gpus, std::string_view id) {
  if (kind == ResourceKind::kWhole) {
    for (const GpuRef& g : gpus) {
      if (g.uuid == id) return g.index;
    }
    return std::nullopt;
  }
  // "<uuid>-mDDDD"
  constexpr size_t kSuffix = 6;
  if (id.size() <= kSuffix) return std::nullopt;
  const std::string_view suffix = id.substr(id.size() - kSuffix);
  if (suffix[0] != '-' || suffix[1] != 'm') return std::nullopt;
  for (size_t i = 2; i < kSuffix; ++i) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(suffix[i]))) return std::nullopt;
  }
  // Four digits are at most 9999; only 0..999 exist.
  if (suffix[2] != '0') return std::nullopt;
  const std::string_view uuid = id.substr(0, id.size() - kSuffix);
  for (const GpuRef& g : gpus) {
    if (g.uuid == uuid) return g.index;
  }
  return std::nullopt;
}

const char* KindName(ResourceKind kind) {
  return kind == ResourceKind::kMilli ? "milli-GPU" : "whole-GPU";
}

}  // namespace

std::string MilliDeviceId(std::string_view uuid, int k) {
  return absl::StrFormat("%s-m%04d", uuid, k);
}

std::vector<std::string> DeviceIdsOf(ResourceKind kind, std::string_view uuid) {
  if (kind == ResourceKind::kWhole) return {std::string(uuid)};
  std::vector<std::string> ids;
  ids.reserve(kMilliPerGpu);
  for (int k = 0; k < kMilliPerGpu; ++k) ids.push_back(MilliDeviceId(uuid, k));
  return ids;
}

absl::StatusOr<DecodedDevices> DecodeDevices(ResourceKind kind, const std::vector<GpuRef>& gpus,
                                             const std::vector<std::string>& ids) {
  if (ids.empty()) return absl::InvalidArgumentError("devices_ids: empty");
  DecodedDevices out;
  std::set<std::string_view> seen;
  for (const std::string& id : ids) {
    std::optional<int> gpu = GpuOf(kind, gpus, id);
    if (!gpu.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat("devices_ids: \"", absl::CEscape(id),
                                                     "\" is not a ", KindName(kind),
                                                     " device of this node"));
    }
    if (!seen.insert(id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("devices_ids: \"", id, "\" appears more than once"));
    }
    out.ids_by_gpu[*gpu].push_back(id);
  }
  if (kind == ResourceKind::kMilli && out.ids_by_gpu.size() > 1) {
    std::vector<std::string> parts;
    for (const auto& [gpu, list] : out.ids_by_gpu) {
      parts.push_back(absl::StrCat(list.size(), " of GPU ", gpu));
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "devices_ids: a gpu-milli share takes all its IDs from one GPU; got ",
        absl::StrJoin(parts, ", ")));
  }
  for (auto& [gpu, list] : out.ids_by_gpu) {
    std::sort(list.begin(), list.end());
    out.shape.push_back(ShareSpec{
        gpu, kind == ResourceKind::kMilli ? static_cast<int>(list.size()) : kMilliPerGpu, 0});
  }
  return out;
}

DecodedDevices DecodeKnownDevices(ResourceKind kind, const std::vector<GpuRef>& gpus,
                                  const std::vector<std::string>& ids) {
  DecodedDevices out;
  std::set<std::string_view> seen;
  for (const std::string& id : ids) {
    std::optional<int> gpu = GpuOf(kind, gpus, id);
    if (!gpu.has_value() || !seen.insert(id).second) continue;
    out.ids_by_gpu[*gpu].push_back(id);
  }
  for (auto& [gpu, list] : out.ids_by_gpu) {
    std::sort(list.begin(), list.end());
    out.shape.push_back(ShareSpec{
        gpu,
        kind == ResourceKind::kMilli ? std::min(static_cast<int>(list.size()), kMilliPerGpu)
                                     : kMilliPerGpu,
        0});
  }
  return out;
}

}  // namespace gpusched::agent::deviceplugin

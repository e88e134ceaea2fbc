#pragma once

// The device IDs gpusched's device plugin advertises to the kubelet, and their decoding back into
// GPUs and milli-GPU.
//
//   gpusched.io/gpu-milli: each GPU is 1000 IDs, "<uuid>-m0000" .. "<uuid>-m0999"; the kubelet
//     counts IDs, so a pod asking for 250 gets 250 IDs, and it can never hand out more than 1000
//     of one GPU. A share's IDs must all be of one GPU.
//   whole GPUs (nvidia.com/gpu by default): one ID per GPU, its uuid.
//
//   MilliDeviceId("GPU-8c1f", 7)                       // "GPU-8c1f-m0007"
//   ASSIGN_OR_RETURN(DecodedDevices d, DecodeDevices(ResourceKind::kMilli, gpus, ids));
//   // d.shape == {{gpu 1, 250 milli, 0 MiB}}; d.ids_by_gpu[1] == the 250 IDs, sorted
//
// Pure functions; thread-safe.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/handoff/reservations.h"

namespace gpusched::agent::deviceplugin {

enum class ResourceKind { kMilli, kWhole };

inline constexpr int kMilliPerGpu = 1000;

// "<uuid>-m<k, 4 digits>", k in 0..999.
std::string MilliDeviceId(std::string_view uuid, int k);

// Every ID the resource advertises for one GPU, in order.
std::vector<std::string> DeviceIdsOf(ResourceKind kind, std::string_view uuid);

struct DecodedDevices {
  // One share per GPU the IDs touch, sorted by GPU: milli = the number of milli IDs of that GPU
  // (kMilli) or 1000 (kWhole); memory 0.
  std::vector<ShareSpec> shape;
  // The IDs of each GPU, sorted.
  std::map<int, std::vector<std::string>> ids_by_gpu;
};

// Decodes the IDs of one container's request. InvalidArgument, quoting the ID, for an ID that is
// not one of this resource's on these GPUs, for a duplicate ID, and (kMilli) for IDs of more than
// one GPU ("a gpu-milli share takes all its IDs from one GPU").
absl::StatusOr<DecodedDevices> DecodeDevices(ResourceKind kind, const std::vector<GpuRef>& gpus,
                                             const std::vector<std::string>& ids);

// Lenient: the IDs of this resource among `ids` (others skipped, duplicates once), any number of
// GPUs. For what the kubelet reports (PodResources, available IDs).
DecodedDevices DecodeKnownDevices(ResourceKind kind, const std::vector<GpuRef>& gpus,
                                  const std::vector<std::string>& ids);

}  // namespace gpusched::agent::deviceplugin

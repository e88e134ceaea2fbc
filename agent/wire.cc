#include "agent/wire.h"

#include <cmath>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"

namespace gpusched::agent {
namespace {

absl::Status Bad(std::string_view field, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(std::string(field), ": ", std::string(what)));
}

absl::Status CheckString(std::string_view field, const std::string& s, bool required) {
  if (required && s.empty()) return Bad(field, "must be set");
  if (s.size() > kMaxString) {
    return Bad(field, absl::StrCat("is ", s.size(), " bytes; at most ", kMaxString));
  }
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return Bad(field, "contains a control character");
  }
  return absl::OkStatus();
}

absl::Status CheckFraction(std::string_view field, double v) {
  if (!std::isfinite(v) || v < 0 || v > 1) {
    return Bad(field, absl::StrCat(v, " is not a fraction in [0, 1]"));
  }
  return absl::OkStatus();
}

absl::Status CheckNonNegative(std::string_view field, double v) {
  if (!std::isfinite(v) || v < 0) return Bad(field, absl::StrCat(v, " must be finite and >= 0"));
  return absl::OkStatus();
}

absl::Status CheckShares(std::string_view where,
                         const google::protobuf::RepeatedPtrField<pb::Share>& shares,
                         const pb::NodeState* state) {
  if (shares.empty()) return Bad(where, "no shares");
  if (shares.size() > kMaxGpus) return Bad(where, absl::StrCat("more than ", kMaxGpus, " shares"));
  std::vector<bool> seen(kMaxGpus, false);
  for (int i = 0; i < shares.size(); ++i) {
    const pb::Share& s = shares[i];
    const std::string f = absl::StrCat(std::string(where), "[", i, "]");
    if (s.gpu() < 0 || s.gpu() >= kMaxGpus) return Bad(f + ".gpu", absl::StrCat(s.gpu(), " is out of range"));
    if (state != nullptr && s.gpu() >= state->gpus_size()) {
      return Bad(f + ".gpu", absl::StrCat("GPU ", s.gpu(), " does not exist (the node has ",
                                          state->gpus_size(), ")"));
    }
    if (seen[s.gpu()]) return Bad(f + ".gpu", absl::StrCat("GPU ", s.gpu(), " appears twice"));
    seen[s.gpu()] = true;
    if (s.milli() < 0 || s.milli() > 1000) {
      return Bad(f + ".milli", absl::StrCat(s.milli(), " is not in 0..1000"));
    }
    if (s.memory_mib() < 0 || s.memory_mib() > kMaxMemoryMiB) {
      return Bad(f + ".memory_mib", absl::StrCat(s.memory_mib(), " is out of range"));
    }
    if (s.milli() == 0 && s.memory_mib() == 0) return Bad(f, "neither milli nor memory");
    if (state != nullptr && s.memory_mib() > state->gpus(s.gpu()).memory_mib()) {
      return Bad(f + ".memory_mib", absl::StrCat(s.memory_mib(), " MiB is more than GPU ", s.gpu(),
                                                 " has (", state->gpus(s.gpu()).memory_mib(), ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckGpu(int i, const pb::Gpu& g) {
  const std::string f = absl::StrCat("gpus[", i, "]");
  if (g.index() != i) return Bad(f + ".index", absl::StrCat(g.index(), " must be ", i));
  if (absl::Status s = CheckString(f + ".uuid", g.uuid(), true); !s.ok()) return s;
  if (absl::Status s = CheckString(f + ".model", g.model(), true); !s.ok()) return s;
  if (absl::Status s = CheckString(f + ".pci_bus_id", g.pci_bus_id(), false); !s.ok()) return s;
  if (absl::Status s = CheckString(f + ".health_reason", g.health_reason(), false); !s.ok()) return s;
  if (g.memory_mib() <= 0 || g.memory_mib() > kMaxMemoryMiB) {
    return Bad(f + ".memory_mib", absl::StrCat(g.memory_mib(), " is not in 1..", kMaxMemoryMiB));
  }
  if (g.sm_count() < 0 || g.sm_count() > 100000) {
    return Bad(f + ".sm_count", absl::StrCat(g.sm_count(), " is out of range"));
  }
  if (g.numa() < -1 || g.numa() > 1024) return Bad(f + ".numa", absl::StrCat(g.numa(), " is out of range"));
  if (g.has_usage()) {
    const pb::Usage& u = g.usage();
    if (!std::isfinite(u.gpu_util_percent()) || u.gpu_util_percent() < 0 || u.gpu_util_percent() > 100) {
      return Bad(f + ".usage.gpu_util_percent", absl::StrCat(u.gpu_util_percent(), " is not in [0, 100]"));
    }
    if (u.memory_used_mib() < 0 || u.memory_free_mib() < 0) {
      return Bad(f + ".usage", "negative memory");
    }
    if (absl::Status s = CheckNonNegative(f + ".usage.power_w", u.power_w()); !s.ok()) return s;
    if (!std::isfinite(u.temperature_c())) return Bad(f + ".usage.temperature_c", "not finite");
  }
  if (g.has_probe()) {
    const pb::Probe& p = g.probe();
    if (absl::Status s = CheckFraction(f + ".probe.available_sm_fraction", p.available_sm_fraction()); !s.ok()) return s;
    if (absl::Status s = CheckFraction(f + ".probe.headroom", p.headroom()); !s.ok()) return s;
    if (absl::Status s = CheckFraction(f + ".probe.occupancy", p.occupancy()); !s.ok()) return s;
    if (absl::Status s = CheckNonNegative(f + ".probe.throughput_gflops", p.throughput_gflops()); !s.ok()) return s;
    if (absl::Status s = CheckNonNegative(f + ".probe.device_to_device_gbps", p.device_to_device_gbps()); !s.ok()) return s;
    if (absl::Status s = CheckNonNegative(f + ".probe.host_to_device_gbps", p.host_to_device_gbps()); !s.ok()) return s;
    if (p.duration_us() < 0) return Bad(f + ".probe.duration_us", "negative");
  }
  return absl::OkStatus();
}

topology::DeviceKind DeviceKindFromProto(pb::TopologyDevice::Kind k) {
  switch (k) {
    case pb::TopologyDevice::NVSWITCH: return topology::DeviceKind::kNvSwitch;
    case pb::TopologyDevice::PCIE_SWITCH: return topology::DeviceKind::kPcieSwitch;
    case pb::TopologyDevice::HOST_BRIDGE: return topology::DeviceKind::kHostBridge;
    case pb::TopologyDevice::CPU_SOCKET: return topology::DeviceKind::kCpuSocket;
    case pb::TopologyDevice::NIC: return topology::DeviceKind::kNic;
    default: return topology::DeviceKind::kGpu;
  }
}

pb::TopologyDevice::Kind DeviceKindToProto(topology::DeviceKind k) {
  switch (k) {
    case topology::DeviceKind::kNvSwitch: return pb::TopologyDevice::NVSWITCH;
    case topology::DeviceKind::kPcieSwitch: return pb::TopologyDevice::PCIE_SWITCH;
    case topology::DeviceKind::kHostBridge: return pb::TopologyDevice::HOST_BRIDGE;
    case topology::DeviceKind::kCpuSocket: return pb::TopologyDevice::CPU_SOCKET;
    case topology::DeviceKind::kNic: return pb::TopologyDevice::NIC;
    case topology::DeviceKind::kGpu: break;
  }
  return pb::TopologyDevice::GPU;
}

}  // namespace

void ShareToProto(const framework::GpuShare& share, pb::Share* out) {
  out->set_gpu(share.gpu.value());
  out->set_milli(static_cast<int32_t>(share.milli.value()));
  out->set_memory_mib(share.memory.value());
}

framework::GpuShare ShareFromProto(const pb::Share& share) {
  return framework::GpuShare{DeviceIndex(share.gpu()), GpuMilli(share.milli()),
                             GpuMemMiB(share.memory_mib())};
}

void TopologyToProto(const topology::GpuTopology& t, pb::Topology* out) {
  out->Clear();
  out->set_name(t.name());
  for (const topology::Device& d : t.devices()) {
    pb::TopologyDevice* p = out->add_devices();
    p->set_kind(DeviceKindToProto(d.kind));
    p->set_name(d.name);
    p->set_numa(d.numa);
  }
  for (const topology::Link& l : t.links()) {
    pb::TopologyLink* p = out->add_links();
    p->set_a(l.a);
    p->set_b(l.b);
    p->set_kind(l.kind == topology::LinkKind::kNvLink   ? pb::TopologyLink::NVLINK
                : l.kind == topology::LinkKind::kPcie ? pb::TopologyLink::PCIE
                                                      : pb::TopologyLink::INTER_SOCKET);
    p->set_count(l.count);
    p->set_generation(l.generation);
    p->set_width(l.width);
    p->set_gbps(l.gbps);
  }
}

absl::StatusOr<topology::GpuTopology> TopologyFromProto(const pb::Topology& t) {
  if (t.devices_size() > kMaxTopologyDevices) {
    return Bad("topology.devices", absl::StrCat(t.devices_size(), " devices; at most ", kMaxTopologyDevices));
  }
  if (t.links_size() > kMaxTopologyLinks) {
    return Bad("topology.links", absl::StrCat(t.links_size(), " links; at most ", kMaxTopologyLinks));
  }
  if (absl::Status s = CheckString("topology.name", t.name(), false); !s.ok()) return s;
  std::vector<topology::Device> devices;
  devices.reserve(t.devices_size());
  for (int i = 0; i < t.devices_size(); ++i) {
    const pb::TopologyDevice& d = t.devices(i);
    const std::string f = absl::StrCat("topology.devices[", i, "]");
    if (!pb::TopologyDevice::Kind_IsValid(d.kind())) return Bad(f + ".kind", "unknown kind");
    if (absl::Status s = CheckString(f + ".name", d.name(), false); !s.ok()) return s;
    if (d.numa() < -1 || d.numa() > 1024) return Bad(f + ".numa", absl::StrCat(d.numa(), " is out of range"));
    devices.push_back(topology::Device{DeviceKindFromProto(d.kind()), d.name(), d.numa()});
  }
  std::vector<topology::Link> links;
  links.reserve(t.links_size());
  for (int i = 0; i < t.links_size(); ++i) {
    const pb::TopologyLink& l = t.links(i);
    const std::string f = absl::StrCat("topology.links[", i, "]");
    if (!pb::TopologyLink::Kind_IsValid(l.kind())) return Bad(f + ".kind", "unknown kind");
    if (l.count() < 0 || l.count() > 64) return Bad(f + ".count", absl::StrCat(l.count(), " is not in 0..64"));
    if (l.generation() < 0 || l.generation() > 16) {
      return Bad(f + ".generation", absl::StrCat(l.generation(), " is out of range"));
    }
    if (l.width() < 0 || l.width() > 64) return Bad(f + ".width", absl::StrCat(l.width(), " is not in 0..64"));
    if (!std::isfinite(l.gbps()) || l.gbps() < 0 || l.gbps() > 100000) {
      return Bad(f + ".gbps", absl::StrCat(l.gbps(), " is out of range"));
    }
    links.push_back(topology::Link{
        l.a(), l.b(),
        l.kind() == pb::TopologyLink::NVLINK ? topology::LinkKind::kNvLink
        : l.kind() == pb::TopologyLink::PCIE ? topology::LinkKind::kPcie
                                             : topology::LinkKind::kInterSocket,
        l.count(), l.generation(), l.width(), l.gbps()});
  }
  absl::StatusOr<topology::GpuTopology> out =
      topology::GpuTopology::Create(t.name().empty() ? "agent" : t.name(), std::move(devices), std::move(links));
  if (!out.ok()) return Bad("topology", std::string(out.status().message()));
  return out;
}

absl::Status ValidateNodeState(const pb::NodeState& state) { return ValidateNodeState(state, false); }

absl::Status ValidateNodeState(const pb::NodeState& state, bool topology_known) {
  if (absl::Status s = CheckString("node_name", state.node_name(), true); !s.ok()) return s;
  if (absl::Status s = CheckString("incarnation", state.incarnation(), true); !s.ok()) return s;
  if (absl::Status s = CheckString("discovery", state.discovery(), false); !s.ok()) return s;
  if (state.sequence() == 0) return Bad("sequence", "must be >= 1");
  if (state.heartbeat_ms() < 0 || state.heartbeat_ms() > 3600 * 1000) {
    return Bad("heartbeat_ms", absl::StrCat(state.heartbeat_ms(), " is not in 0..3600000"));
  }
  if (state.gpus_size() > kMaxGpus) {
    return Bad("gpus", absl::StrCat(state.gpus_size(), " GPUs; at most ", kMaxGpus));
  }
  for (int i = 0; i < state.gpus_size(); ++i) {
    if (absl::Status s = CheckGpu(i, state.gpus(i)); !s.ok()) return s;
  }
  if (state.topology_unchanged() && state.has_topology()) {
    return Bad("topology_unchanged", "set while topology is present");
  }
  if (state.has_topology() && !topology_known) {
    absl::StatusOr<topology::GpuTopology> t = TopologyFromProto(state.topology());
    if (!t.ok()) return t.status();
    if (t->gpu_count() != state.gpus_size()) {
      return Bad("topology", absl::StrCat("has ", t->gpu_count(), " GPUs but gpus has ", state.gpus_size()));
    }
  }
  if (state.allocations_size() > kMaxAllocations) {
    return Bad("allocations", absl::StrCat(state.allocations_size(), " entries; at most ", kMaxAllocations));
  }
  for (int i = 0; i < state.allocations_size(); ++i) {
    const pb::Allocation& a = state.allocations(i);
    const std::string f = absl::StrCat("allocations[", i, "]");
    if (!pb::Allocation::State_IsValid(a.state())) return Bad(f + ".state", "unknown state");
    // A reservation always names its pod; the book's entries for devices whose pod it does not
    // know (identity-less allocated devices, pods adopted after a restart: handoff/reservations.h)
    // have no uid once allocated or confirmed, and still count against capacity.
    const bool uid_required = a.state() == pb::Allocation::RESERVED;
    if (absl::Status s = CheckString(f + ".pod_uid", a.pod_uid(), uid_required); !s.ok()) return s;
    if (absl::Status s = CheckString(f + ".pod_namespace", a.pod_namespace(), false); !s.ok()) return s;
    if (absl::Status s = CheckString(f + ".pod_name", a.pod_name(), false); !s.ok()) return s;
    if (absl::Status s = CheckShares(f + ".shares", a.shares(), &state); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status ValidateReserveRequest(const pb::ReserveRequest& r) {
  if (absl::Status s = CheckString("node_name", r.node_name(), true); !s.ok()) return s;
  if (absl::Status s = CheckString("pod_uid", r.pod_uid(), true); !s.ok()) return s;
  if (absl::Status s = CheckString("pod_namespace", r.pod_namespace(), false); !s.ok()) return s;
  if (absl::Status s = CheckString("pod_name", r.pod_name(), false); !s.ok()) return s;
  return CheckShares("shares", r.shares(), nullptr);
}

absl::StatusOr<AgentInventory> InventoryFromState(const pb::NodeState& state) {
  return InventoryFromState(state, nullptr);
}

absl::StatusOr<AgentInventory> InventoryFromState(const pb::NodeState& state,
                                                  std::shared_ptr<const topology::GpuTopology> known) {
  if (state.topology_unchanged() && !state.has_topology()) {  // with one: ValidateNodeState says
    if (!known) return Bad("topology_unchanged", "no topology was sent earlier on this stream");
    if (known->gpu_count() != state.gpus_size()) {
      return Bad("topology_unchanged", absl::StrCat("the topology sent earlier has ", known->gpu_count(),
                                                    " GPUs but gpus has ", state.gpus_size()));
    }
  }
  const bool reuse = known && state.has_topology() && known->gpu_count() == state.gpus_size();
  // Without a known topology the check builds it; build it once, here, and check the rest.
  std::shared_ptr<const topology::GpuTopology> built;
  if (state.has_topology() && !reuse) {
    absl::StatusOr<topology::GpuTopology> t = TopologyFromProto(state.topology());
    if (!t.ok()) return t.status();
    if (t->gpu_count() != state.gpus_size()) {
      return Bad("topology", absl::StrCat("has ", t->gpu_count(), " GPUs but gpus has ", state.gpus_size()));
    }
    built = std::make_shared<const topology::GpuTopology>(*std::move(t));
  }
  if (absl::Status s = ValidateNodeState(state, /*topology_known=*/true); !s.ok()) return s;
  AgentInventory inv;
  inv.gpus.reserve(state.gpus_size());
  for (const pb::Gpu& g : state.gpus()) {
    framework::GpuDevice d;
    d.model = g.model();
    d.memory = GpuMemMiB(g.memory_mib());
    d.healthy = g.healthy();
    d.headroom = g.has_probe() ? g.probe().headroom() : 1.0;
    inv.gpus.push_back(std::move(d));
  }
  if (state.topology_unchanged()) {  // validated above: no topology of its own
    inv.topology = std::move(known);
  } else if (state.has_topology()) {
    inv.topology = reuse ? std::move(known) : std::move(built);
  }
  return inv;
}

}  // namespace gpusched::agent

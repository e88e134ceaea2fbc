#include "topology/topology_json.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace gpusched::topology {
namespace {

using Json = nlohmann::json;

constexpr std::pair<DeviceKind, const char*> kDeviceKinds[] = {
    {DeviceKind::kGpu, "gpu"},           {DeviceKind::kNvSwitch, "nvswitch"},
    {DeviceKind::kPcieSwitch, "pcie_switch"}, {DeviceKind::kHostBridge, "host_bridge"},
    {DeviceKind::kCpuSocket, "cpu_socket"}, {DeviceKind::kNic, "nic"}};
constexpr std::pair<LinkKind, const char*> kLinkKinds[] = {
    {LinkKind::kNvLink, "nvlink"}, {LinkKind::kPcie, "pcie"}, {LinkKind::kInterSocket, "inter_socket"}};

absl::Status Bad(const std::string& path, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", what));
}

// Reads an optional integer field into `out`, or fails naming the path.
absl::Status Int(const Json& obj, const char* key, const std::string& path, int32_t& out,
                 int64_t lo, int64_t hi) {
  auto it = obj.find(key);
  if (it == obj.end()) return absl::OkStatus();
  if (!it->is_number_integer()) return Bad(absl::StrCat(path, ".", key), "expected an integer");
  const int64_t v = it->get<int64_t>();
  if (v < lo || v > hi) {
    return Bad(absl::StrCat(path, ".", key), absl::StrCat("must be in ", lo, "..", hi));
  }
  out = static_cast<int32_t>(v);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<GpuTopology> ParseTopologyJson(std::string_view text) {
  Json root = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return absl::InvalidArgumentError("topology: not valid JSON");
  if (!root.is_object()) return Bad("topology", "expected an object");
  std::string name = "agent";
  if (auto it = root.find("name"); it != root.end()) {
    if (!it->is_string()) return Bad("name", "expected a string");
    name = it->get<std::string>();
  }
  auto devs = root.find("devices");
  auto lnks = root.find("links");
  if (devs == root.end() || !devs->is_array()) return Bad("devices", "required: a list");
  if (lnks == root.end() || !lnks->is_array()) return Bad("links", "required: a list");
  std::vector<Device> devices;
  for (size_t i = 0; i < devs->size(); ++i) {
    const Json& d = (*devs)[i];
    const std::string path = absl::StrCat("devices[", i, "]");
    if (!d.is_object()) return Bad(path, "expected an object");
    Device dev;
    auto kind = d.find("kind");
    if (kind == d.end() || !kind->is_string()) return Bad(path + ".kind", "required: a string");
    bool found = false;
    for (const auto& [k, n] : kDeviceKinds) {
      if (kind->get<std::string>() == n) {
        dev.kind = k;
        found = true;
      }
    }
    if (!found) {
      return Bad(path + ".kind",
                 absl::StrCat("unknown \"", kind->get<std::string>(),
                              "\" (gpu, nvswitch, pcie_switch, host_bridge, cpu_socket, nic)"));
    }
    if (auto n = d.find("name"); n != d.end()) {
      if (!n->is_string()) return Bad(path + ".name", "expected a string");
      dev.name = n->get<std::string>();
    }
    if (absl::Status s = Int(d, "numa", path, dev.numa, -1, 1024); !s.ok()) return s;
    devices.push_back(std::move(dev));
  }
  std::vector<Link> links;
  for (size_t i = 0; i < lnks->size(); ++i) {
    const Json& l = (*lnks)[i];
    const std::string path = absl::StrCat("links[", i, "]");
    if (!l.is_object()) return Bad(path, "expected an object");
    Link link;
    const int32_t max_index = static_cast<int32_t>(devices.size()) - 1;
    if (!l.contains("a") || !l.contains("b")) return Bad(path, "required: a and b");
    if (absl::Status s = Int(l, "a", path, link.a, 0, std::max(0, max_index)); !s.ok()) return s;
    if (absl::Status s = Int(l, "b", path, link.b, 0, std::max(0, max_index)); !s.ok()) return s;
    auto kind = l.find("kind");
    if (kind == l.end() || !kind->is_string()) return Bad(path + ".kind", "required: a string");
    bool found = false;
    for (const auto& [k, n] : kLinkKinds) {
      if (kind->get<std::string>() == n) {
        link.kind = k;
        found = true;
      }
    }
    if (!found) {
      return Bad(path + ".kind", absl::StrCat("unknown \"", kind->get<std::string>(),
                                              "\" (nvlink, pcie, inter_socket)"));
    }
    if (absl::Status s = Int(l, "count", path, link.count, 1, 1024); !s.ok()) return s;
    if (absl::Status s = Int(l, "generation", path, link.generation, 0, 64); !s.ok()) return s;
    if (absl::Status s = Int(l, "width", path, link.width, 1, 64); !s.ok()) return s;
    if (auto g = l.find("gbps"); g != l.end()) {
      if (!g->is_number() || !std::isfinite(g->get<double>()) || g->get<double>() <= 0) {
        return Bad(path + ".gbps", "expected a positive number");
      }
      link.gbps = g->get<double>();
    }
    links.push_back(link);
  }
  return GpuTopology::Create(std::move(name), std::move(devices), std::move(links));
}

std::string TopologyToJson(const GpuTopology& t) {
  Json root;
  root["name"] = t.name();
  Json devices = Json::array();
  for (const Device& d : t.devices()) {
    const char* kind = "gpu";
    for (const auto& [k, n] : kDeviceKinds) {
      if (k == d.kind) kind = n;
    }
    devices.push_back({{"kind", kind}, {"name", d.name}, {"numa", d.numa}});
  }
  Json links = Json::array();
  for (const Link& l : t.links()) {
    const char* kind = "pcie";
    for (const auto& [k, n] : kLinkKinds) {
      if (k == l.kind) kind = n;
    }
    links.push_back({{"a", l.a},
                     {"b", l.b},
                     {"kind", kind},
                     {"count", l.count},
                     {"generation", l.generation},
                     {"width", l.width},
                     {"gbps", l.gbps}});
  }
  root["devices"] = std::move(devices);
  root["links"] = std::move(links);
  return root.dump(1, '\t', /*ensure_ascii=*/false, Json::error_handler_t::replace);
}

}  // namespace gpusched::topology

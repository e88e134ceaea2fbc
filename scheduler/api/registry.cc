#include "scheduler/api/registry.h"

#include "absl/strings/str_cat.h"

namespace gpusched::framework {

absl::Status Registry::Register(std::string name, PluginFactory factory) {
  if (name.empty()) return absl::InvalidArgumentError("plugin name is empty");
  if (factories_.contains(name)) {
    return absl::AlreadyExistsError(absl::StrCat("plugin \"", name, "\" is already registered"));
  }
  factories_.emplace(std::move(name), std::move(factory));
  return absl::OkStatus();
}

const PluginFactory* Registry::Find(std::string_view name) const {
  auto it = factories_.find(name);
  return it == factories_.end() ? nullptr : &it->second;
}

std::vector<std::string> Registry::Names() const {
  std::vector<std::string> out;
  for (const auto& [name, f] : factories_) out.push_back(name);
  return out;
}

}  // namespace gpusched::framework

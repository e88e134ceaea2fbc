#pragma once

// Maps plugin names to factories (design G6). plugins/registry.cc lists every in-tree plugin in
// NewInTreeRegistry(); tests build their own Registry. There are no static registrations.
//
//   Registry r;
//   RETURN_IF_ERROR(r.Register("MyPlugin", [](const PluginArgs& a, Handle& h)
//       -> absl::StatusOr<std::unique_ptr<Plugin>> { return std::make_unique<MyPlugin>(); }));

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "scheduler/api/handle.h"
#include "scheduler/api/plugin.h"
#include "scheduler/api/plugin_args.h"

namespace gpusched::framework {

using PluginFactory = absl::AnyInvocable<absl::StatusOr<std::unique_ptr<Plugin>>(
    const PluginArgs&, Handle&) const>;

class Registry {
 public:
  Registry() = default;
  Registry(Registry&&) = default;
  Registry& operator=(Registry&&) = default;

  // AlreadyExists on a duplicate name; InvalidArgument on an empty name.
  absl::Status Register(std::string name, PluginFactory factory);
  const PluginFactory* Find(std::string_view name) const;
  std::vector<std::string> Names() const;  // sorted

 private:
  std::map<std::string, PluginFactory, std::less<>> factories_;
};

}  // namespace gpusched::framework

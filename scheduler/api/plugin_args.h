#pragma once

// Plugin arguments as a parsed value tree (design G7): the runtime decodes a profile's YAML/JSON
// `args:` into an ArgValue; plugins read typed fields from it and never parse text. Every error
// names the field.
//
//   struct FitArgs { std::string strategy = "LeastAllocated"; int64_t gpu_weight = 1; };
//   absl::StatusOr<FitArgs> Decode(const PluginArgs& args) {
//     FitArgs out;
//     RETURN_IF_ERROR(args.RejectUnknown({"scoringStrategy", "gpuWeight"}));
//     RETURN_IF_ERROR(args.Get("scoringStrategy", out.strategy));   // stays default if absent
//     RETURN_IF_ERROR(args.Get("gpuWeight", out.gpu_weight));
//     return out;
//   }
//   // args {gpuWeight: "x"} -> InvalidArgument "args.gpuWeight: expected an integer, got string"

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"

namespace gpusched::framework {

class ArgValue {
 public:
  using List = std::vector<ArgValue>;
  using Map = std::vector<std::pair<std::string, ArgValue>>;  // in document order

  ArgValue() = default;  // null
  explicit ArgValue(bool v) : v_(v) {}
  explicit ArgValue(int64_t v) : v_(v) {}
  explicit ArgValue(double v) : v_(v) {}
  explicit ArgValue(std::string v) : v_(std::move(v)) {}
  explicit ArgValue(List v) : v_(std::move(v)) {}
  explicit ArgValue(Map v) : v_(std::move(v)) {}

  bool is_null() const { return std::holds_alternative<std::monostate>(v_); }
  const bool* as_bool() const { return std::get_if<bool>(&v_); }
  const int64_t* as_int() const { return std::get_if<int64_t>(&v_); }
  const double* as_double() const { return std::get_if<double>(&v_); }
  const std::string* as_string() const { return std::get_if<std::string>(&v_); }
  const List* as_list() const { return std::get_if<List>(&v_); }
  const Map* as_map() const { return std::get_if<Map>(&v_); }
  // "null", "boolean", "integer", "number", "string", "list", "map".
  std::string_view TypeName() const;

 private:
  std::variant<std::monostate, bool, int64_t, double, std::string, List, Map> v_;
};

// A map of named arguments, with typed getters. `path` prefixes field names in errors ("args").
class PluginArgs {
 public:
  PluginArgs() = default;
  explicit PluginArgs(ArgValue::Map fields, std::string path = "args")
      : fields_(std::move(fields)), path_(std::move(path)) {}

  // Each getter leaves `out` unchanged when the key is absent (or null) and fails with
  // InvalidArgument naming "<path>.<key>" when the value has the wrong type. A double getter
  // accepts integers.
  absl::Status Get(std::string_view key, bool& out) const;
  absl::Status Get(std::string_view key, int64_t& out) const;
  absl::Status Get(std::string_view key, double& out) const;
  absl::Status Get(std::string_view key, std::string& out) const;
  absl::Status Get(std::string_view key, std::vector<std::string>& out) const;
  // A nested map as PluginArgs (path extended); absent gives an empty one.
  absl::Status Get(std::string_view key, PluginArgs& out) const;

  // InvalidArgument naming the first key not in `known` (catches typos in profiles).
  absl::Status RejectUnknown(std::initializer_list<std::string_view> known) const;
  // An error about `key` in the same format as the getters: "<path>.<key>: <message>".
  absl::Status FieldError(std::string_view key, std::string_view message) const;

  const ArgValue::Map& fields() const { return fields_; }
  bool empty() const { return fields_.empty(); }

 private:
  const ArgValue* Find(std::string_view key) const;

  ArgValue::Map fields_;
  std::string path_ = "args";
};

}  // namespace gpusched::framework

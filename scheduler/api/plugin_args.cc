#include "scheduler/api/plugin_args.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace gpusched::framework {

std::string_view ArgValue::TypeName() const {
  switch (v_.index()) {
    case 0: return "null";
    case 1: return "boolean";
    case 2: return "integer";
    case 3: return "number";
    case 4: return "string";
    case 5: return "list";
    default: return "map";
  }
}

const ArgValue* PluginArgs::Find(std::string_view key) const {
  for (const auto& [k, v] : fields_) {
    if (k == key) return v.is_null() ? nullptr : &v;
  }
  return nullptr;
}

absl::Status PluginArgs::FieldError(std::string_view key, std::string_view message) const {
  return absl::InvalidArgumentError(absl::StrCat(path_, ".", std::string(key), ": ", std::string(message)));
}

namespace {
std::string Expected(std::string_view what, const ArgValue& got) {
  return absl::StrCat("expected ", std::string(what), ", got ", std::string(got.TypeName()));
}
}  // namespace

absl::Status PluginArgs::Get(std::string_view key, bool& out) const {
  const ArgValue* v = Find(key);
  if (v == nullptr) return absl::OkStatus();
  if (!v->as_bool()) return FieldError(key, Expected("a boolean", *v));
  out = *v->as_bool();
  return absl::OkStatus();
}

absl::Status PluginArgs::Get(std::string_view key, int64_t& out) const {
  const ArgValue* v = Find(key);
  if (v == nullptr) return absl::OkStatus();
  if (!v->as_int()) return FieldError(key, Expected("an integer", *v));
  out = *v->as_int();
  return absl::OkStatus();
}

absl::Status PluginArgs::Get(std::string_view key, double& out) const {
  const ArgValue* v = Find(key);
  if (v == nullptr) return absl::OkStatus();
  if (v->as_int()) {
    out = static_cast<double>(*v->as_int());
  } else if (v->as_double()) {
    out = *v->as_double();
  } else {
    return FieldError(key, Expected("a number", *v));
  }
  return absl::OkStatus();
}

absl::Status PluginArgs::Get(std::string_view key, std::string& out) const {
  const ArgValue* v = Find(key);
  if (v == nullptr) return absl::OkStatus();
  if (!v->as_string()) return FieldError(key, Expected("a string", *v));
  out = *v->as_string();
  return absl::OkStatus();
}

absl::Status PluginArgs::Get(std::string_view key, std::vector<std::string>& out) const {
  const ArgValue* v = Find(key);
  if (v == nullptr) return absl::OkStatus();
  if (!v->as_list()) return FieldError(key, Expected("a list of strings", *v));
  std::vector<std::string> result;
  for (size_t i = 0; i < v->as_list()->size(); ++i) {
    const ArgValue& item = (*v->as_list())[i];
    if (!item.as_string()) {
      return FieldError(absl::StrCat(std::string(key), "[", i, "]"), Expected("a string", item));
    }
    result.push_back(*item.as_string());
  }
  out = std::move(result);
  return absl::OkStatus();
}

absl::Status PluginArgs::Get(std::string_view key, PluginArgs& out) const {
  const ArgValue* v = Find(key);
  if (v == nullptr) {
    out = PluginArgs({}, absl::StrCat(path_, ".", std::string(key)));
    return absl::OkStatus();
  }
  if (!v->as_map()) return FieldError(key, Expected("a map", *v));
  out = PluginArgs(*v->as_map(), absl::StrCat(path_, ".", std::string(key)));
  return absl::OkStatus();
}

absl::Status PluginArgs::RejectUnknown(std::initializer_list<std::string_view> known) const {
  for (const auto& [k, v] : fields_) {
    if (std::find(known.begin(), known.end(), k) == known.end()) {
      std::string list;
      for (std::string_view n : known) absl::StrAppend(&list, list.empty() ? "" : ", ", std::string(n));
      return FieldError(k, absl::StrCat("unknown field (known: ", list, ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace gpusched::framework

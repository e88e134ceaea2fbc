#include "scheduler/runtime/profile.h"

#include <exception>
#include <set>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/file.h"
#include "scheduler/runtime/yaml_guard.h"
#include "yaml-cpp/yaml.h"

namespace gpusched::runtime {
namespace {

using framework::ArgValue;

// A map key inside a field path: printable as is, anything else escaped.
std::string KeyForPath(const std::string& key) {
  for (char c : key) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      return QuoteForMessage(key);
    }
  }
  return key.size() > 80 ? QuoteForMessage(key) : key;
}

// yaml-cpp reports problems with exceptions; this file is the boundary where they become
// absl::Status values, and no exception leaves it.
class Decoder {
 public:
  explicit Decoder(std::string_view source) : source_(source) {}

  std::string Where(const YAML::Node& node) const {
    const YAML::Mark m = node.Mark();
    if (m.line < 0) return std::string(source_);
    return absl::StrCat(std::string(source_), ":", m.line + 1, ":", m.column + 1);
  }
  absl::Status Error(const YAML::Node& node, std::string_view path, std::string_view msg) const {
    return absl::InvalidArgumentError(absl::StrCat(Where(node), ": ", std::string(path), ": ", std::string(msg)));
  }

  absl::StatusOr<ArgValue> ToArg(const YAML::Node& node, const std::string& path) const {
    switch (node.Type()) {
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined:
        return ArgValue();
      case YAML::NodeType::Scalar:
        return ScalarToArg(node);
      case YAML::NodeType::Sequence: {
        ArgValue::List list;
        for (size_t i = 0; i < node.size(); ++i) {
          absl::StatusOr<ArgValue> v = ToArg(node[i], absl::StrCat(path, "[", i, "]"));
          if (!v.ok()) return v.status();
          list.push_back(*std::move(v));
        }
        return ArgValue(std::move(list));
      }
      case YAML::NodeType::Map: {
        ArgValue::Map map;
        std::set<std::string> seen;
        for (const auto& kv : node) {
          const std::string key = kv.first.Scalar();
          if (!seen.insert(key).second) {
            return Error(kv.first, absl::StrCat(path, ".", KeyForPath(key)), "duplicate key");
          }
          absl::StatusOr<ArgValue> v = ToArg(kv.second, absl::StrCat(path, ".", KeyForPath(key)));
          if (!v.ok()) return v.status();
          map.emplace_back(key, *std::move(v));
        }
        return ArgValue(std::move(map));
      }
    }
    return ArgValue();
  }

  // Plain scalars resolve as YAML 1.2 core types (bool, int, float); quoted scalars stay strings.
  static ArgValue ScalarToArg(const YAML::Node& node) {
    const std::string& s = node.Scalar();
    if (node.Tag() == "!") return ArgValue(s);  // quoted
    if (s == "true" || s == "True" || s == "TRUE") return ArgValue(true);
    if (s == "false" || s == "False" || s == "FALSE") return ArgValue(false);
    if (s == "null" || s == "~") return ArgValue();
    int64_t i;
    if (absl::SimpleAtoi(s, &i)) return ArgValue(i);
    double d;
    if (!s.empty() && (std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '-' ||
                       s[0] == '+' || s[0] == '.') &&
        absl::SimpleAtod(s, &d)) {
      return ArgValue(d);
    }
    return ArgValue(s);
  }

  absl::StatusOr<PluginConfig> DecodePlugin(const YAML::Node& node, const std::string& path) const {
    if (!node.IsMap()) return Error(node, path, "expected a map with name, weight, args");
    PluginConfig pc;
    pc.location = Where(node);
    for (const auto& kv : node) {
      const std::string key = kv.first.Scalar();
      if (key != "name" && key != "weight" && key != "args" && key != "points") {
        return Error(kv.first, absl::StrCat(path, ".", KeyForPath(key)),
                     "unknown field (known: name, weight, args, points)");
      }
    }
    const YAML::Node name = node["name"];
    if (!name || !name.IsScalar() || name.Scalar().empty()) {
      return Error(node, absl::StrCat(path, ".name"), "required: the plugin's name");
    }
    pc.name = name.Scalar();
    if (const YAML::Node w = node["weight"]; w) {
      int64_t weight;
      if (!w.IsScalar() || !absl::SimpleAtoi(w.Scalar(), &weight)) {
        return Error(w, absl::StrCat(path, ".weight"),
                     absl::StrCat("expected an integer, got ",
                                  w.IsScalar() ? QuoteForMessage(w.Scalar()) : "a collection"));
      }
      if (weight < 1 || weight > kMaxPluginWeight) {
        return Error(w, absl::StrCat(path, ".weight"),
                     absl::StrCat("must be in 1..", kMaxPluginWeight, ", got ", weight));
      }
      pc.weight = static_cast<int32_t>(weight);
    }
    if (const YAML::Node pts = node["points"]; pts) {
      if (!pts.IsSequence() || pts.size() == 0) {
        return Error(pts, absl::StrCat(path, ".points"), "expected a non-empty list of names");
      }
      for (size_t i = 0; i < pts.size(); ++i) {
        if (!pts[i].IsScalar()) {
          return Error(pts[i], absl::StrCat(path, ".points[", i, "]"), "expected a name");
        }
        pc.points.push_back(pts[i].Scalar());
      }
    }
    if (const YAML::Node a = node["args"]; a && !a.IsNull()) {
      if (!a.IsMap()) return Error(a, absl::StrCat(path, ".args"), "expected a map");
      absl::StatusOr<ArgValue> v = ToArg(a, absl::StrCat(path, ".args"));
      if (!v.ok()) return v.status();
      pc.args = framework::PluginArgs(*v->as_map(), absl::StrCat(path, ".args"));
    } else {
      pc.args = framework::PluginArgs({}, absl::StrCat(path, ".args"));
    }
    return pc;
  }

  absl::StatusOr<std::vector<Profile>> Decode(const YAML::Node& root) const {
    if (!root.IsMap() || !root["profiles"]) {
      return Error(root, "profiles", "required: the document must have a top-level \"profiles\" list");
    }
    for (const auto& kv : root) {
      if (kv.first.Scalar() != "profiles") {
        return Error(kv.first, KeyForPath(kv.first.Scalar()), "unknown field (known: profiles)");
      }
    }
    const YAML::Node list = root["profiles"];
    if (!list.IsSequence() || list.size() == 0) {
      return Error(list, "profiles", "expected a non-empty list");
    }
    std::vector<Profile> out;
    std::set<std::string> names;
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string path = absl::StrCat("profiles[", i, "]");
      const YAML::Node p = list[i];
      if (!p.IsMap()) return Error(p, path, "expected a map with name and plugins");
      for (const auto& kv : p) {
        const std::string key = kv.first.Scalar();
        if (key != "name" && key != "plugins") {
          return Error(kv.first, absl::StrCat(path, ".", KeyForPath(key)),
                       "unknown field (known: name, plugins)");
        }
      }
      Profile profile;
      if (!p["name"] || !p["name"].IsScalar() || p["name"].Scalar().empty()) {
        return Error(p, absl::StrCat(path, ".name"), "required: the profile's name");
      }
      profile.name = p["name"].Scalar();
      if (!names.insert(profile.name).second) {
        return Error(p["name"], absl::StrCat(path, ".name"),
                     absl::StrCat("duplicate profile name ", QuoteForMessage(profile.name)));
      }
      const YAML::Node plugins = p["plugins"];
      if (!plugins || !plugins.IsSequence() || plugins.size() == 0) {
        return Error(plugins ? plugins : p, absl::StrCat(path, ".plugins"),
                     "expected a non-empty list of plugins");
      }
      std::set<std::string> plugin_names;
      for (size_t j = 0; j < plugins.size(); ++j) {
        const std::string ppath = absl::StrCat(path, ".plugins[", j, "]");
        absl::StatusOr<PluginConfig> pc = DecodePlugin(plugins[j], ppath);
        if (!pc.ok()) return pc.status();
        if (!plugin_names.insert(pc->name).second) {
          return Error(plugins[j], absl::StrCat(ppath, ".name"),
                       absl::StrCat("plugin ", QuoteForMessage(pc->name), " is listed twice"));
        }
        profile.plugins.push_back(*std::move(pc));
      }
      out.push_back(std::move(profile));
    }
    return out;
  }

 private:
  std::string_view source_;
};

}  // namespace

absl::StatusOr<std::vector<Profile>> ParseProfiles(std::string_view text,
                                                   std::string_view source) {
  // Anchors, aliases, a second document, duplicate keys, depth and size are refused before the
  // tree is built, so the walk below visits each node once and the tree is at most kMaxProfileNodes.
  if (absl::Status s = CheckYamlDocument(
          text, source, YamlLimits{.max_depth = kMaxProfileDepth, .max_nodes = kMaxProfileNodes});
      !s.ok()) {
    return s;
  }
  Decoder decoder(source);
  try {
    const YAML::Node root = YAML::Load(std::string(StripUtf8Bom(text)));
    return decoder.Decode(root);
  } catch (const YAML::Exception& e) {
    const int line = e.mark.line >= 0 ? e.mark.line + 1 : 0;
    const int col = e.mark.column >= 0 ? e.mark.column + 1 : 0;
    return absl::InvalidArgumentError(absl::StrCat(std::string(source), ":", line, ":", col,
                                                   ": not valid YAML/JSON: ",
                                                   SanitizeForMessage(e.msg)));
  } catch (const std::exception& e) {  // allocation failures
    return absl::ResourceExhaustedError(
        absl::StrCat(std::string(source), ": cannot parse: ", SanitizeForMessage(e.what())));
  }
}

absl::StatusOr<std::vector<Profile>> LoadProfilesFile(const std::string& path, size_t max_bytes) {
  absl::StatusOr<std::string> text = ReadInputFile(path, max_bytes, "raise it with --max-input-mb");
  if (!text.ok()) return text.status();
  return ParseProfiles(*text, path);
}

absl::StatusOr<Profile> FindProfile(const std::vector<Profile>& profiles, std::string_view name) {
  std::string known;
  for (const Profile& p : profiles) {
    if (p.name == name) return p;
    absl::StrAppend(&known, known.empty() ? "" : ", ", p.name);
  }
  return absl::NotFoundError(
      absl::StrCat("no profile named \"", std::string(name), "\" (profiles: ", known, ")"));
}

}  // namespace gpusched::runtime

#include "extender/wire/wire.h"

#include <charconv>
#include <cstring>

#include <cctype>
#include <exception>
#include <string>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "extender/json_depth.h"
#include "simdjson.h"

namespace gpusched::extender::wire {
namespace {

using Json = nlohmann::json;

std::string Describe(const Json& v) {
  std::string s = v.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (s.size() > 80) s = s.substr(0, 80) + "...";
  return s;
}

absl::Status Error(std::string_view type, std::string_view path, std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(std::string(type), ": ", std::string(path), path.empty() ? "" : ": ",
                   std::string(what)));
}
absl::Status Error(std::string_view type, std::string_view path, std::string_view what,
                   const Json& got) {
  return Error(type, path, absl::StrCat(std::string(what), ", got ", Describe(got)));
}


absl::StatusOr<Json> Parse(std::string_view type, std::string_view body) {
  if (const size_t at = TooDeepAt(body); at != 0) {
    return Error(type, "", absl::StrCat("invalid JSON at byte ", at, ": nested deeper than ",
                                        kMaxJsonDepth, " levels"));
  }
  try {
    Json doc = Json::parse(body.data(), body.data() + body.size());
    if (!doc.is_object()) return Error(type, "", "must be a JSON object", doc);
    return doc;
  } catch (const Json::parse_error& e) {
    std::string what = e.what();
    if (size_t end = what.find("] "); !what.empty() && what[0] == '[' && end != std::string::npos) {
      what = what.substr(end + 2);
    }
    return Error(type, "", absl::StrCat("invalid JSON at byte ", e.byte, ": ", what));
  } catch (const std::exception& e) {
    return Error(type, "", absl::StrCat("invalid JSON: ", e.what()));
  }
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// obj[key] as Go's decoder finds it: the exact key, else the first key equal ignoring case;
// nullptr when absent or null.
const Json* Field(const Json& obj, std::string_view key) {
  auto it = obj.find(key);
  if (it == obj.end()) {
    for (auto i = obj.begin(); i != obj.end(); ++i) {
      if (EqualsIgnoreCase(i.key(), key)) {
        it = i;
        break;
      }
    }
  }
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

absl::StatusOr<std::string> RequiredString(std::string_view type, const Json& obj,
                                           std::string_view key) {
  const Json* v = Field(obj, key);
  if (v == nullptr) return Error(type, key, "required");
  if (!v->is_string()) return Error(type, key, "must be a string", *v);
  return v->get<std::string>();
}

// "Pod": a JSON object with metadata.name.
absl::StatusOr<Json> ReadPod(std::string_view type, const Json& doc) {
  const Json* pod = Field(doc, "Pod");
  if (pod == nullptr) return Error(type, "Pod", "required (the pod to schedule)");
  if (!pod->is_object()) return Error(type, "Pod", "must be a v1.Pod object", *pod);
  return *pod;
}

// A Node object's metadata.name.
absl::StatusOr<std::string> NodeName(std::string_view type, const Json& node,
                                     const std::string& path) {
  if (!node.is_object()) return Error(type, path, "must be a v1.Node object", node);
  auto md = node.find("metadata");
  if (md == node.end() || !md->is_object()) return Error(type, path + ".metadata.name", "required");
  auto name = md->find("name");
  if (name == md->end() || !name->is_string() || name->get_ref<const std::string&>().empty()) {
    return Error(type, path + ".metadata.name", "required: a non-empty string");
  }
  return name->get<std::string>();
}

// ExtenderArgs is the hot path (a Filter or Prioritize body with thousands of node names), so
// it is read with simdjson's on-demand parser (Debian libsimdjson 3.0.1): the names go straight
// into the vector, and only the Pod (and, with nodeCacheCapable false, the NodeList) is handed to
// nlohmann as a DOM. About 10x faster than a DOM of the whole body (bench/extender_benchmark.cc).
absl::Status SimdError(std::string_view type, std::string_view path, simdjson::error_code e,
                       const char* where, const simdjson::padded_string& text) {
  std::string at;
  if (where != nullptr && where >= text.data() && where <= text.data() + text.size()) {
    at = absl::StrCat(" at byte ", where - text.data());
  }
  if (path.empty()) {
    return Error(type, "", absl::StrCat("invalid JSON", at, ": ", simdjson::error_message(e)));
  }
  return Error(type, path, absl::StrCat("invalid JSON", at, ": ", simdjson::error_message(e)));
}

// Parses one value's raw JSON text with nlohmann (the Pod, the NodeList).
absl::StatusOr<Json> SubDocument(std::string_view type, std::string_view path,
                                 std::string_view raw) {
  if (TooDeepAt(raw) != 0) {
    return Error(type, path, absl::StrCat("nested deeper than ", kMaxJsonDepth, " levels"));
  }
  try {
    return Json::parse(raw.data(), raw.data() + raw.size());
  } catch (const std::exception& e) {
    return Error(type, path, absl::StrCat("invalid JSON: ", e.what()));
  }
}

absl::StatusOr<ExtenderArgs> DecodeExtenderArgsOrThrow(std::string_view body) {
  constexpr std::string_view kType = "ExtenderArgs";
  using simdjson::ondemand::json_type;
  thread_local simdjson::ondemand::parser parser;
  const simdjson::padded_string text(body.data(), body.size());
  simdjson::ondemand::document doc;
  if (auto e = parser.iterate(text).get(doc); e) return SimdError(kType, "", e, nullptr, text);
  json_type type;
  if (auto e = doc.type().get(type); e) return SimdError(kType, "", e, nullptr, text);
  if (type != json_type::object) {
    return Error(kType, "", "must be a JSON object, got a JSON " +
                                std::string(type == json_type::array ? "array" : "value"));
  }
  simdjson::ondemand::object root;
  if (auto e = doc.get_object().get(root); e) return SimdError(kType, "", e, nullptr, text);
  ExtenderArgs out;
  bool have_pod = false, have_names = false, have_nodes = false;
  std::string_view nodes_raw;
  for (auto field : root) {
    std::string_view key;
    if (auto e = field.unescaped_key().get(key); e) return SimdError(kType, "", e, nullptr, text);
    simdjson::ondemand::value v = field.value();
    json_type t;
    if (auto e = v.type().get(t); e) return SimdError(kType, key, e, nullptr, text);
    if (EqualsIgnoreCase(key, "Pod")) {
      if (t == json_type::null) {
        have_pod = false;
        continue;
      }
      if (t != json_type::object) return Error(kType, "Pod", "must be a v1.Pod object");
      std::string_view raw;
      simdjson::ondemand::object pod;
      if (auto e = v.get_object().get(pod); e) return SimdError(kType, "Pod", e, nullptr, text);
      if (auto e = pod.raw_json().get(raw); e) return SimdError(kType, "Pod", e, nullptr, text);
      ASSIGN_OR_RETURN(out.pod, SubDocument(kType, "Pod", raw));
      have_pod = true;
    } else if (EqualsIgnoreCase(key, "NodeNames")) {
      out.node_names.clear();
      have_names = t != json_type::null;
      if (!have_names) continue;
      if (t != json_type::array) return Error(kType, "NodeNames", "must be a list of names");
      simdjson::ondemand::array names;
      if (auto e = v.get_array().get(names); e) return SimdError(kType, "NodeNames", e, nullptr, text);
      size_t i = 0;
      for (auto item : names) {
        std::string_view name;
        if (auto e = item.get_string().get(name); e) {
          return Error(kType, absl::StrCat("NodeNames[", i, "]"),
                       e == simdjson::INCORRECT_TYPE ? "must be a string"
                                                     : simdjson::error_message(e));
        }
        out.node_names.emplace_back(name);
        ++i;
      }
    } else if (EqualsIgnoreCase(key, "Nodes")) {
      have_nodes = t != json_type::null;
      if (!have_nodes) continue;
      if (t != json_type::object) return Error(kType, "Nodes", "must be a v1.NodeList object");
      simdjson::ondemand::object nodes;
      if (auto e = v.get_object().get(nodes); e) return SimdError(kType, "Nodes", e, nullptr, text);
      if (auto e = nodes.raw_json().get(nodes_raw); e) {
        return SimdError(kType, "Nodes", e, nullptr, text);
      }
    }
  }
  // Anything after the object: current_location is out of bounds only at the end.
  if (doc.current_location().error() != simdjson::OUT_OF_BOUNDS) {
    return Error(kType, "", "invalid JSON: content after the object");
  }
  if (!have_pod) return Error(kType, "Pod", "required (the pod to schedule)");
  if (have_names) {
    out.node_cache_capable = true;
    return out;
  }
  if (!have_nodes) {
    return Error(kType, "NodeNames",
                 "one of NodeNames (nodeCacheCapable: true) or Nodes must be set");
  }
  out.node_cache_capable = false;
  ASSIGN_OR_RETURN(Json nodes, SubDocument(kType, "Nodes", nodes_raw));
  const Json* items = Field(nodes, "items");
  out.node_items = items == nullptr ? Json::array() : *items;
  if (!out.node_items.is_array()) return Error(kType, "Nodes.items", "must be a list", *items);
  out.node_names.reserve(out.node_items.size());
  for (size_t i = 0; i < out.node_items.size(); ++i) {
    ASSIGN_OR_RETURN(std::string name,
                     NodeName(kType, out.node_items[i], absl::StrCat("Nodes.items[", i, "]")));
    out.node_names.emplace_back(std::move(name));
  }
  return out;
}

absl::StatusOr<BindingArgs> DecodeBindingArgsOrThrow(std::string_view body) {
  constexpr std::string_view kType = "ExtenderBindingArgs";
  ASSIGN_OR_RETURN(Json doc, Parse(kType, body));
  BindingArgs out;
  ASSIGN_OR_RETURN(out.pod_name, RequiredString(kType, doc, "PodName"));
  ASSIGN_OR_RETURN(out.pod_uid, RequiredString(kType, doc, "PodUID"));
  ASSIGN_OR_RETURN(out.node, RequiredString(kType, doc, "Node"));
  if (out.pod_name.empty()) return Error(kType, "PodName", "must not be empty");
  if (out.node.empty()) return Error(kType, "Node", "must not be empty");
  const Json* ns = Field(doc, "PodNamespace");
  if (ns != nullptr && !ns->is_string()) return Error(kType, "PodNamespace", "must be a string", *ns);
  out.pod_namespace = ns == nullptr || ns->get_ref<const std::string&>().empty()
                          ? "default" : ns->get<std::string>();
  return out;
}

// One Victims / MetaVictims value: {"Pods": [...], "NumPDBViolations": n}.
absl::StatusOr<PreemptionArgs::Victims> ReadVictims(const Json& v, const std::string& path,
                                                    bool meta) {
  constexpr std::string_view kType = "ExtenderPreemptionArgs";
  PreemptionArgs::Victims out;
  if (!v.is_object()) return Error(kType, path, "must be an object", v);
  if (const Json* pdb = Field(v, "NumPDBViolations"); pdb != nullptr) {
    if (!pdb->is_number_integer() || pdb->get<int64_t>() < 0) {
      return Error(kType, path + ".NumPDBViolations", "must be a non-negative integer", *pdb);
    }
    out.pdb_violations = pdb->get<int64_t>();
  }
  const Json* pods = Field(v, "Pods");
  if (pods == nullptr) return out;
  if (!pods->is_array()) return Error(kType, path + ".Pods", "must be a list", *pods);
  for (size_t i = 0; i < pods->size(); ++i) {
    const Json& p = (*pods)[i];
    const std::string at = absl::StrCat(path, ".Pods[", i, "]");
    if (!p.is_object()) return Error(kType, at, "must be an object", p);
    const Json* uid = nullptr;
    if (meta) {
      uid = Field(p, "UID");
    } else if (auto md = p.find("metadata"); md != p.end() && md->is_object()) {
      if (auto u = md->find("uid"); u != md->end()) uid = &*u;
    }
    const std::string where = at + (meta ? ".UID" : ".metadata.uid");
    if (uid == nullptr || !uid->is_string() || uid->get_ref<const std::string&>().empty()) {
      return Error(kType, where, "required: the victim's UID");
    }
    out.uids.push_back(uid->get<std::string>());
  }
  return out;
}

absl::StatusOr<PreemptionArgs> DecodePreemptionArgsOrThrow(std::string_view body) {
  constexpr std::string_view kType = "ExtenderPreemptionArgs";
  ASSIGN_OR_RETURN(Json doc, Parse(kType, body));
  PreemptionArgs out;
  ASSIGN_OR_RETURN(out.pod, ReadPod(kType, doc));
  const Json* meta = Field(doc, "NodeNameToMetaVictims");
  const Json* full = Field(doc, "NodeNameToVictims");
  const Json* map = meta != nullptr ? meta : full;
  const std::string key = meta != nullptr ? "NodeNameToMetaVictims" : "NodeNameToVictims";
  if (map == nullptr) return out;  // nothing proposed
  if (!map->is_object()) return Error(kType, key, "must be a map of node name to victims", *map);
  for (auto it = map->begin(); it != map->end(); ++it) {
    ASSIGN_OR_RETURN(PreemptionArgs::Victims v,
                     ReadVictims(*it, absl::StrCat(key, "[\"", it.key(), "\"]"), meta != nullptr));
    out.nodes.emplace(it.key(), std::move(v));
  }
  return out;
}

template <class F>
auto Guarded(std::string_view type, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(std::string(type), ": decoder failure: ", e.what()));
  }
}

std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

}  // namespace

absl::StatusOr<ExtenderArgs> DecodeExtenderArgs(std::string_view body) {
  return Guarded("ExtenderArgs", [&] { return DecodeExtenderArgsOrThrow(body); });
}

absl::StatusOr<BindingArgs> DecodeBindingArgs(std::string_view body) {
  return Guarded("ExtenderBindingArgs", [&] { return DecodeBindingArgsOrThrow(body); });
}

absl::StatusOr<PreemptionArgs> DecodePreemptionArgs(std::string_view body) {
  return Guarded("ExtenderPreemptionArgs", [&] { return DecodePreemptionArgsOrThrow(body); });
}

namespace {

// `s` as a JSON string literal (UTF-8 passed through; quotes, backslashes and control
// characters escaped), appended to `out`.
// Whether any byte of `s` needs escaping in a JSON string (a control character, '"' or '\\'),
// eight bytes at a time: a reply carries thousands of names, and almost none needs escaping.
bool NeedsEscape(std::string_view s) {
  constexpr uint64_t k01 = 0x0101010101010101ull;
  constexpr uint64_t k80 = 0x8080808080808080ull;
  auto has_zero = [&](uint64_t v) { return ((v - k01) & ~v & k80) != 0; };
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    const bool below_space = ((w - k01 * 0x20) & ~w & k80) != 0;  // a byte < 0x20
    if (below_space || has_zero(w ^ (k01 * '"')) || has_zero(w ^ (k01 * '\\'))) return true;
  }
  for (; i < s.size(); ++i) {
    const auto u = static_cast<unsigned char>(s[i]);
    if (u < 0x20 || u == '"' || u == '\\') return true;
  }
  return false;
}

// Appends `s` as a JSON string.
void AppendString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  if (!NeedsEscape(s)) [[likely]] {
    out.push_back('"');
    out.append(s);
    out.push_back('"');
    return;
  }
  out.push_back('"');
  size_t plain = 0;  // start of the run of characters that need no escape
  for (size_t i = 0; i < s.size(); ++i) {
    const auto u = static_cast<unsigned char>(s[i]);
    if (u >= 0x20 && u != '"' && u != '\\') [[likely]] continue;
    out.append(s.data() + plain, i - plain);
    plain = i + 1;
    if (u < 0x20) {
      const char esc[6] = {'\\', 'u', '0', '0', kHex[u >> 4], kHex[u & 15]};
      out.append(esc, 6);
    } else {
      const char esc[2] = {'\\', s[i]};
      out.append(esc, 2);
    }
  }
  out.append(s.data() + plain, s.size() - plain);
  out.push_back('"');
}

void AppendMap(std::string& out, const std::map<std::string, std::string>& m) {
  out.push_back('{');
  bool first = true;
  for (const auto& [k, v] : m) {
    if (!first) out.push_back(',');
    first = false;
    AppendString(out, k);
    out.push_back(':');
    AppendString(out, v);
  }
  out.push_back('}');
}

}  // namespace

// Written by hand (keys in the order nlohmann would sort them): a reply carries thousands of
// names, and a DOM per reply costs more than the scheduling.
std::string EncodeFilterReply(const FilterReply& reply, const ExtenderArgs& args) {
  std::string out;
  out.reserve(96 + 24 * reply.feasible.size());
  out += "{\"Error\":";
  AppendString(out, reply.error);
  out += ",\"FailedAndUnresolvableNodes\":";
  AppendMap(out, reply.unresolvable);
  out += ",\"FailedNodes\":";
  // Unresolvable nodes are listed in FailedNodes too: kube-scheduler before 1.21 does not know
  // FailedAndUnresolvableNodes and would show the pod "0/N nodes are available: ." without our
  // reasons; from 1.21 on, a node in both maps is unresolvable (FailedNodes entries for it are
  // skipped), so nothing changes there.
  if (reply.unresolvable.empty()) {
    AppendMap(out, reply.failed);
  } else {
    std::map<std::string, std::string> both = reply.failed;
    for (const auto& [node, reason] : reply.unresolvable) both.insert_or_assign(node, reason);
    AppendMap(out, both);
  }
  if (args.node_cache_capable) {
    out += ",\"NodeNames\":[";  // [] when empty: every node filtered, with reasons
    for (size_t i = 0; i < reply.feasible.size(); ++i) {
      if (i > 0) out.push_back(',');
      AppendString(out, args.node_names[reply.feasible[i]].str());
    }
    out += "],\"Nodes\":null}";
    return out;
  }
  // The Node objects of the feasible names, as they came; NodeNames is ignored in this mode.
  // node_names[i] is node_items[i]'s name: the feasible indexes are the items to keep.
  Json items = Json::array();
  for (uint32_t i : reply.feasible) items.push_back(args.node_items[i]);
  out += ",\"NodeNames\":null,\"Nodes\":";
  out += Dump(Json{{"metadata", Json::object()}, {"items", std::move(items)}});
  out += "}";
  return out;
}

std::string EncodePrioritizeReply(const std::vector<NodeId>& hosts,
                                  const std::vector<int64_t>& scores) {
  std::string out;
  out.reserve(2 + 40 * hosts.size());
  out.push_back('[');
  for (size_t i = 0; i < hosts.size(); ++i) {
    if (i > 0) out.push_back(',');
    out += "{\"Host\":";
    AppendString(out, hosts[i].str());
    out += ",\"Score\":";
    char digits[24];
    const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, scores[i]);
    out.append(digits, end);
    out.push_back('}');
  }
  out.push_back(']');
  return out;
}

std::string EncodeBindingReply(std::string_view error) {
  return Dump(Json{{"Error", std::string(error)}});
}

std::string EncodePreemptionReply(const std::map<std::string, PreemptionArgs::Victims>& nodes) {
  Json map = Json::object();
  for (const auto& [node, v] : nodes) {
    if (v.uids.empty()) continue;
    Json pods = Json::array();
    for (const std::string& uid : v.uids) pods.push_back(Json{{"UID", uid}});
    map[node] = Json{{"Pods", std::move(pods)}, {"NumPDBViolations", v.pdb_violations}};
  }
  return Dump(Json{{"NodeNameToMetaVictims", std::move(map)}});
}

std::string EncodeError(std::string_view message) {
  return Dump(Json{{"Error", std::string(message)}});
}

}  // namespace gpusched::extender::wire

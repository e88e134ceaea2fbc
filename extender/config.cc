#include "extender/config.h"

#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/file.h"
#include "common/status_macros.h"
#include "scheduler/runtime/yaml_guard.h"
#include "yaml-cpp/yaml.h"

namespace gpusched::extender {
namespace {

std::string Where(std::string_view source, const YAML::Node& n, std::string_view key) {
  const YAML::Mark m = n.Mark();
  return absl::StrCat(std::string(source), ":", m.line + 1, ":", m.column + 1, ": ",
                      std::string(key));
}

absl::Status Bad(std::string_view source, const YAML::Node& n, std::string_view key,
                 std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(Where(source, n, key), ": ", std::string(what)));
}

absl::StatusOr<std::string> Scalar(std::string_view source, const YAML::Node& n,
                                   std::string_view key) {
  if (!n.IsScalar()) return Bad(source, n, key, "must be a single value");
  return n.Scalar();
}

absl::StatusOr<bool> Bool(std::string_view source, const YAML::Node& n, std::string_view key) {
  ASSIGN_OR_RETURN(std::string s, Scalar(source, n, key));
  if (s == "true") return true;
  if (s == "false") return false;
  return Bad(source, n, key, absl::StrCat("must be true or false, got \"", s, "\""));
}

absl::StatusOr<int64_t> Int(std::string_view source, const YAML::Node& n, std::string_view key,
                            int64_t min, int64_t max) {
  ASSIGN_OR_RETURN(std::string s, Scalar(source, n, key));
  int64_t v = 0;
  if (!absl::SimpleAtoi(s, &v) || v < min || v > max) {
    return Bad(source, n, key, absl::StrCat("must be a whole number in ", min, "..", max,
                                            ", got \"", s, "\""));
  }
  return v;
}

absl::StatusOr<absl::Duration> Duration(std::string_view source, const YAML::Node& n,
                                        std::string_view key) {
  ASSIGN_OR_RETURN(std::string s, Scalar(source, n, key));
  absl::Duration d;
  if (!absl::ParseDuration(s, &d) || d <= absl::ZeroDuration() || d > absl::Hours(24 * 365)) {
    return Bad(source, n, key,
               absl::StrCat("must be a positive duration such as \"30s\" or \"2m\", got \"", s, "\""));
  }
  return d;
}

absl::Status CheckKeys(std::string_view source, const YAML::Node& map, std::string_view path,
                       const std::set<std::string>& allowed) {
  if (!map.IsMap()) return Bad(source, map, path, "must be a map");
  for (auto it = map.begin(); it != map.end(); ++it) {
    const std::string key = it->first.as<std::string>();
    if (!allowed.count(key)) {
      std::string list;
      for (const std::string& a : allowed) absl::StrAppend(&list, list.empty() ? "" : ", ", a);
      const std::string full = path.empty() ? key : absl::StrCat(std::string(path), ".", key);
      return Bad(source, it->first, full, absl::StrCat("unknown key (known: ", list, ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status ParseAgents(std::string_view source, const YAML::Node& v, AgentsConfig& a) {
  RETURN_IF_ERROR(CheckKeys(source, v, "agents",
                            {"static", "discover", "staleAfter", "onStale", "callTimeout", "tls"}));
  a.enabled = true;
  if (v["static"]) {
    const YAML::Node s = v["static"];
    if (!s.IsMap()) return Bad(source, s, "agents.static", "must be a map of node name to HOST:PORT");
    for (auto it = s.begin(); it != s.end(); ++it) {
      const std::string node = it->first.as<std::string>();
      const std::string path = absl::StrCat("agents.static.", node);
      ASSIGN_OR_RETURN(std::string addr, Scalar(source, it->second, path));
      if (addr.rfind(':') == std::string::npos || addr.rfind(':') + 1 == addr.size()) {
        return Bad(source, it->second, path, "must be HOST:PORT");
      }
      a.static_agents[node] = addr;
    }
  }
  if (v["discover"]) {
    const YAML::Node d = v["discover"];
    RETURN_IF_ERROR(CheckKeys(source, d, "agents.discover", {"namespace", "labels", "port"}));
    a.discover = true;
    if (d["namespace"]) {
      ASSIGN_OR_RETURN(a.discover_namespace, Scalar(source, d["namespace"], "agents.discover.namespace"));
    }
    if (d["labels"]) {
      const YAML::Node l = d["labels"];
      if (!l.IsMap()) return Bad(source, l, "agents.discover.labels", "must be a map");
      a.discover_labels.clear();
      for (auto it = l.begin(); it != l.end(); ++it) {
        const std::string k = it->first.as<std::string>();
        ASSIGN_OR_RETURN(a.discover_labels[k], Scalar(source, it->second, absl::StrCat("agents.discover.labels.", k)));
      }
    }
    if (d["port"]) {
      ASSIGN_OR_RETURN(int64_t p, Int(source, d["port"], "agents.discover.port", 1, 65535));
      a.discover_port = static_cast<int>(p);
    }
  }
  if (v["staleAfter"]) {
    ASSIGN_OR_RETURN(a.stale_after, Duration(source, v["staleAfter"], "agents.staleAfter"));
    if (a.stale_after < absl::Milliseconds(100)) {
      return Bad(source, v["staleAfter"], "agents.staleAfter", "must be at least 100ms");
    }
  }
  if (v["callTimeout"]) {
    ASSIGN_OR_RETURN(a.call_timeout, Duration(source, v["callTimeout"], "agents.callTimeout"));
  }
  if (v["onStale"]) {
    ASSIGN_OR_RETURN(std::string m, Scalar(source, v["onStale"], "agents.onStale"));
    if (m != "avoid" && m != "fallback") {
      return Bad(source, v["onStale"], "agents.onStale", "must be avoid or fallback");
    }
    a.avoid_when_stale = m == "avoid";
  }
  if (v["tls"]) {
    const YAML::Node t = v["tls"];
    RETURN_IF_ERROR(CheckKeys(source, t, "agents.tls", {"caFile", "certFile", "keyFile"}));
    if (t["caFile"]) { ASSIGN_OR_RETURN(a.ca_file, Scalar(source, t["caFile"], "agents.tls.caFile")); }
    if (t["certFile"]) { ASSIGN_OR_RETURN(a.cert_file, Scalar(source, t["certFile"], "agents.tls.certFile")); }
    if (t["keyFile"]) { ASSIGN_OR_RETURN(a.key_file, Scalar(source, t["keyFile"], "agents.tls.keyFile")); }
    if (a.ca_file.empty()) return Bad(source, t, "agents.tls", "caFile is needed to verify the agents");
    if (a.cert_file.empty() != a.key_file.empty()) {
      return Bad(source, t, "agents.tls", "certFile and keyFile go together");
    }
  }
  if (a.static_agents.empty() && !a.discover) {
    return Bad(source, v, "agents", "name the agents (static) or how to find them (discover)");
  }
  return absl::OkStatus();
}

absl::StatusOr<ExtenderConfig> ParseOrThrow(std::string_view text, std::string_view source) {
  ExtenderConfig c;
  YAML::Node root;
  // Anchors and aliases (a "billion laughs" file), deep nesting, a second document and duplicate
  // keys are refused before the tree is built, as for profiles.
  RETURN_IF_ERROR(runtime::CheckYamlDocument(text, source));
  text = runtime::StripUtf8Bom(text);
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(source), ":", e.mark.line + 1, ":",
                                                   e.mark.column + 1, ": ", e.msg));
  }
  if (root.IsNull()) return c;
  RETURN_IF_ERROR(CheckKeys(source, root, "",
                            {"listen", "pathPrefix", "threads", "parallelism", "tls", "profile", "profileName",
                             "kubernetes", "logLevel", "logJson", "bodyLimitBytes",
                             "requestTimeout", "maxModelAge", "assumedPodTtl", "gangTimeout",
                             "seed", "agents"}));
  for (auto it = root.begin(); it != root.end(); ++it) {
    const std::string key = it->first.as<std::string>();
    // A copy (a handle to the same node): `it->second` lives in a temporary of the iterator's
    // operator->, so a reference to it dangles (ASan: stack-use-after-scope, bench/fuzz).
    const YAML::Node v = it->second;
    if (key == "listen") {
      ASSIGN_OR_RETURN(std::string s, Scalar(source, v, key));
      absl::Status st = SetListen(s, c);
      if (!st.ok()) return Bad(source, v, key, std::string(st.message()));
    } else if (key == "pathPrefix") {
      ASSIGN_OR_RETURN(c.path_prefix, Scalar(source, v, key));
      while (!c.path_prefix.empty() && c.path_prefix.back() == '/') c.path_prefix.pop_back();
      if (!c.path_prefix.empty() && c.path_prefix[0] != '/') c.path_prefix = "/" + c.path_prefix;
    } else if (key == "threads") {
      ASSIGN_OR_RETURN(int64_t n, Int(source, v, key, 1, 256));
      c.threads = static_cast<int>(n);
    } else if (key == "parallelism") {
      ASSIGN_OR_RETURN(int64_t n, Int(source, v, key, 0, 64));
      c.parallelism = static_cast<int>(n);
    } else if (key == "tls") {
      RETURN_IF_ERROR(CheckKeys(source, v, "tls", {"certFile", "keyFile"}));
      if (v["certFile"]) {
        ASSIGN_OR_RETURN(c.cert_file, Scalar(source, v["certFile"], "tls.certFile"));
      }
      if (v["keyFile"]) {
        ASSIGN_OR_RETURN(c.key_file, Scalar(source, v["keyFile"], "tls.keyFile"));
      }
      if (c.cert_file.empty() != c.key_file.empty()) {
        return Bad(source, v, key, "certFile and keyFile go together");
      }
    } else if (key == "profile") {
      ASSIGN_OR_RETURN(c.profile, Scalar(source, v, key));
    } else if (key == "profileName") {
      ASSIGN_OR_RETURN(c.profile_name, Scalar(source, v, key));
    } else if (key == "kubernetes") {
      RETURN_IF_ERROR(CheckKeys(source, v, "kubernetes", {"inCluster", "kubeconfig", "context"}));
      if (v["inCluster"]) {
        ASSIGN_OR_RETURN(c.in_cluster, Bool(source, v["inCluster"], "kubernetes.inCluster"));
      }
      if (v["kubeconfig"]) {
        ASSIGN_OR_RETURN(c.kubeconfig, Scalar(source, v["kubeconfig"], "kubernetes.kubeconfig"));
      }
      if (v["context"]) {
        ASSIGN_OR_RETURN(c.kube_context, Scalar(source, v["context"], "kubernetes.context"));
      }
      if (c.in_cluster && !c.kubeconfig.empty()) {
        return Bad(source, v, key, "inCluster and kubeconfig exclude each other");
      }
    } else if (key == "logLevel") {
      ASSIGN_OR_RETURN(c.log_level, Scalar(source, v, key));
      if (c.log_level != "debug" && c.log_level != "info" && c.log_level != "warn" &&
          c.log_level != "error") {
        return Bad(source, v, key, "must be debug, info, warn or error");
      }
    } else if (key == "logJson") {
      ASSIGN_OR_RETURN(c.log_json, Bool(source, v, key));
    } else if (key == "bodyLimitBytes") {
      ASSIGN_OR_RETURN(c.body_limit, Int(source, v, key, 1024, int64_t{1} << 32));
    } else if (key == "requestTimeout") {
      ASSIGN_OR_RETURN(c.request_timeout, Duration(source, v, key));
    } else if (key == "maxModelAge") {
      ASSIGN_OR_RETURN(c.max_model_age, Duration(source, v, key));
    } else if (key == "assumedPodTtl") {
      ASSIGN_OR_RETURN(c.assumed_pod_ttl, Duration(source, v, key));
    } else if (key == "gangTimeout") {
      ASSIGN_OR_RETURN(c.gang_timeout, Duration(source, v, key));
    } else if (key == "agents") {
      RETURN_IF_ERROR(ParseAgents(source, v, c.agents));
    } else if (key == "seed") {
      ASSIGN_OR_RETURN(int64_t s, Int(source, v, key, 0, INT64_MAX));
      c.seed = static_cast<uint64_t>(s);
    }
  }
  return c;
}

}  // namespace

absl::Status SetListen(std::string_view address, ExtenderConfig& config) {
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address \"", std::string(address), "\" must be HOST:PORT"));
  }
  std::string host(address.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = 0;
  if (!absl::SimpleAtoi(std::string(address.substr(colon + 1)), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "listen address \"", std::string(address), "\": the port must be a number in 0..65535"));
  }
  config.host = host.empty() ? "0.0.0.0" : host;
  config.port = static_cast<uint16_t>(port);
  return absl::OkStatus();
}

absl::StatusOr<ExtenderConfig> ParseConfig(std::string_view text, std::string_view source) {
  try {
    return ParseOrThrow(text, source);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(source), ": ", e.what()));
  }
}

absl::StatusOr<ExtenderConfig> LoadConfig(const std::string& path) {
  // At most 1 MiB; a directory, device or pipe is refused by name.
  absl::StatusOr<std::string> text = ReadSmallFile(path);
  if (!text.ok()) {
    return absl::Status(text.status().code(),
                        absl::StrCat("config file ", text.status().message()));
  }
  return ParseConfig(*text, path);
}

}  // namespace gpusched::extender

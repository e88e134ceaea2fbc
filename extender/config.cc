#include "extender/config.h"

#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
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
      if (key == "agents") {
        return Bad(source, it->first, full,
                   "node agents are not supported by this version (the model comes from the "
                   "Kubernetes API)");
      }
      return Bad(source, it->first, full, absl::StrCat("unknown key (known: ", list, ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ExtenderConfig> ParseOrThrow(std::string_view text, std::string_view source) {
  ExtenderConfig c;
  YAML::Node root;
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
                             "seed"}));
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
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read config file ", path));
  std::stringstream buf;
  buf << in.rdbuf();
  if (buf.str().size() > (1u << 20)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": larger than 1 MiB"));
  }
  return ParseConfig(buf.str(), path);
}

}  // namespace gpusched::extender

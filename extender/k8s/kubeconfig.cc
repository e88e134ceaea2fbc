#include "extender/k8s/kubeconfig.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <utility>

#include <yaml-cpp/yaml.h>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace gpusched::extender::k8s {
namespace {

// Reads a whole file; NotFound / PermissionDenied / Internal with the OS's reason.
absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    std::string why = err != 0 ? std::strerror(err) : "cannot open";
    if (err == ENOENT || err == ENOTDIR) return absl::NotFoundError(why);
    if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(why);
    return absl::InternalError(why);
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return absl::InternalError("read error");
  return ss.str();
}

// Builds the errors of one kubeconfig file: "kubeconfig FILE: WHERE: WHAT".
class Errors {
 public:
  explicit Errors(std::string file) : file_(std::move(file)) {}
  absl::Status Bad(std::string_view where, std::string_view what,
                   absl::StatusCode code = absl::StatusCode::kInvalidArgument) const {
    return absl::Status(code, where.empty()
                                  ? absl::StrCat("kubeconfig ", file_, ": ", std::string(what))
                                  : absl::StrCat("kubeconfig ", file_, ": ", std::string(where),
                                                 ": ", std::string(what)));
  }

 private:
  std::string file_;
};

// A string-valued key of `map` ("" if absent or null); an error if it is not a scalar.
absl::StatusOr<std::string> GetString(const Errors& e, const YAML::Node& map, const char* key,
                                      const std::string& where) {
  if (!map.IsMap()) return std::string();
  const YAML::Node v = map[key];
  if (!v || v.IsNull()) return std::string();
  if (!v.IsScalar()) return e.Bad(absl::StrCat(where, ".", key), "must be a string");
  return v.Scalar();
}

absl::StatusOr<bool> GetBool(const Errors& e, const YAML::Node& map, const char* key,
                             const std::string& where) {
  if (!map.IsMap()) return false;
  const YAML::Node v = map[key];
  if (!v || v.IsNull()) return false;
  bool out = false;
  if (!v.IsScalar() || !YAML::convert<bool>::decode(v, out)) {
    return e.Bad(absl::StrCat(where, ".", key), "must be true or false");
  }
  return out;
}

bool Has(const YAML::Node& map, const char* key) {
  return map.IsMap() && map[key] && !map[key].IsNull();
}

// The `inner` map of the entry named `name` in the list `list` ("clusters", "cluster");
// nullopt if there is no such entry (the first one counts).
absl::StatusOr<std::optional<YAML::Node>> FindNamed(const Errors& e, const YAML::Node& root, const char* list,
                                     const char* inner, const std::string& name) {
  const YAML::Node entries = root[list];
  if (!entries || entries.IsNull()) return std::optional<YAML::Node>();
  if (!entries.IsSequence()) return e.Bad(list, "must be a list");
  for (size_t i = 0; i < entries.size(); ++i) {
    const YAML::Node entry = entries[i];
    if (!entry.IsMap()) return e.Bad(absl::StrFormat("%s[%d]", list, i), "must be a mapping");
    absl::StatusOr<std::string> n = GetString(e, entry, "name", absl::StrFormat("%s[%d]", list, i));
    if (!n.ok()) return n.status();
    if (*n != name) continue;
    const YAML::Node body = entry[inner];
    if (!body || body.IsNull()) return std::optional<YAML::Node>(YAML::Node(YAML::NodeType::Map));
    if (!body.IsMap()) {
      return e.Bad(absl::StrFormat("%s[name=%s].%s", list, name, inner), "must be a mapping");
    }
    return std::optional<YAML::Node>(body);
  }
  return std::optional<YAML::Node>();
}

std::string Resolve(const std::filesystem::path& dir, const std::string& p) {
  if (p.empty()) return p;
  std::filesystem::path path(p);
  if (path.is_absolute()) return p;
  return (dir / path).lexically_normal().string();
}

// Decodes a *-data field (base64 of PEM).
absl::StatusOr<std::string> DecodePem(const Errors& e, const std::string& where,
                                      const std::string& b64) {
  std::string compact;
  for (char c : b64) {
    if (!absl::ascii_isspace(static_cast<unsigned char>(c))) compact += c;
  }
  std::string pem;
  if (!absl::Base64Unescape(compact, &pem)) return e.Bad(where, "not valid base64");
  if (!absl::StrContains(pem, "-----BEGIN ")) {
    return e.Bad(where, "does not decode to PEM (no \"-----BEGIN\" line)");
  }
  return pem;
}

// A file named by the kubeconfig must be readable now (a clearer error than a failed handshake).
absl::Status CheckReadable(const Errors& e, const std::string& where, const std::string& path) {
  absl::StatusOr<std::string> content = ReadFile(path);
  if (!content.ok()) {
    return e.Bad(where, absl::StrCat("cannot read \"", path, "\": ", content.status().message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<http::ClientOptions> Load(const std::string& path, std::string_view context_arg) {
  const Errors e(path);
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) {
    return absl::Status(text.status().code(),
                        absl::StrCat("kubeconfig ", path, ": cannot read the file: ",
                                     text.status().message()));
  }
  YAML::Node root;
  try {
    root = YAML::Load(*text);
  } catch (const YAML::Exception& ex) {
    return e.Bad("", absl::StrCat("invalid YAML: ", ex.what()));
  }
  if (!root || root.IsNull()) return e.Bad("", "the file is empty");
  if (!root.IsMap()) return e.Bad("", "not a YAML mapping (expected a kind: Config document)");

  std::error_code ec;
  std::filesystem::path dir = std::filesystem::absolute(path, ec).parent_path();
  if (ec) dir = std::filesystem::path(path).parent_path();

  // Context.
  std::string context(context_arg);
  if (context.empty()) {
    absl::StatusOr<std::string> current = GetString(e, root, "current-context", "");
    if (!current.ok()) return current.status();
    context = *current;
    if (context.empty()) return e.Bad("", "no context given and current-context is not set");
  }
  absl::StatusOr<std::optional<YAML::Node>> found_ctx =
      FindNamed(e, root, "contexts", "context", context);
  if (!found_ctx.ok()) return found_ctx.status();
  if (!found_ctx->has_value()) return e.Bad("", absl::StrFormat("context \"%s\" not found", context));
  const YAML::Node* ctx = &**found_ctx;
  const std::string ctx_where = absl::StrFormat("contexts[name=%s]", context);
  absl::StatusOr<std::string> cluster_name = GetString(e, *ctx, "cluster", ctx_where + ".context");
  if (!cluster_name.ok()) return cluster_name.status();
  absl::StatusOr<std::string> user_name = GetString(e, *ctx, "user", ctx_where + ".context");
  if (!user_name.ok()) return user_name.status();
  if (cluster_name->empty()) return e.Bad(ctx_where + ".context.cluster", "missing");

  // Cluster.
  absl::StatusOr<std::optional<YAML::Node>> cluster =
      FindNamed(e, root, "clusters", "cluster", *cluster_name);
  if (!cluster.ok()) return cluster.status();
  if (!cluster->has_value()) {
    return e.Bad(ctx_where, absl::StrFormat("cluster \"%s\" not found", *cluster_name));
  }
  const YAML::Node* cluster_node = &**cluster;
  const std::string cw = absl::StrFormat("clusters[name=%s].cluster", *cluster_name);
  http::ClientOptions out;

  absl::StatusOr<std::string> server = GetString(e, *cluster_node, "server", cw);
  if (!server.ok()) return server.status();
  std::string url = std::string(absl::StripAsciiWhitespace(*server));
  if (url.empty()) return e.Bad(cw + ".server", "missing");
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) {
    url = "https://" + url;  // as client-go: a bare host:port means https
  } else {
    std::string scheme = absl::AsciiStrToLower(url.substr(0, scheme_end));
    if (scheme != "https" && scheme != "http") {
      return e.Bad(cw + ".server",
                   absl::StrFormat("unsupported scheme \"%s\" in \"%s\" (want https or http)",
                                   scheme, url));
    }
    url = scheme + url.substr(scheme_end);
  }
  if (url.substr(url.find("://") + 3).find_first_not_of('/') == std::string::npos) {
    return e.Bad(cw + ".server", absl::StrFormat("no host in \"%s\"", *server));
  }
  while (absl::EndsWith(url, "/")) url.pop_back();
  out.base_url = url;

  absl::StatusOr<std::string> ca_file = GetString(e, *cluster_node, "certificate-authority", cw);
  if (!ca_file.ok()) return ca_file.status();
  absl::StatusOr<std::string> ca_data = GetString(e, *cluster_node, "certificate-authority-data", cw);
  if (!ca_data.ok()) return ca_data.status();
  absl::StatusOr<bool> insecure = GetBool(e, *cluster_node, "insecure-skip-tls-verify", cw);
  if (!insecure.ok()) return insecure.status();
  absl::StatusOr<std::string> server_name = GetString(e, *cluster_node, "tls-server-name", cw);
  if (!server_name.ok()) return server_name.status();
  if (*insecure && (!ca_file->empty() || !ca_data->empty())) {
    return e.Bad(cw, "insecure-skip-tls-verify together with a certificate authority is not "
                     "allowed (kubectl refuses it too)");
  }
  out.insecure = *insecure;
  out.server_name = *server_name;
  if (!ca_data->empty()) {
    absl::StatusOr<std::string> pem = DecodePem(e, cw + ".certificate-authority-data", *ca_data);
    if (!pem.ok()) return pem.status();
    out.ca_data = *std::move(pem);
  } else if (!ca_file->empty()) {
    out.ca_file = Resolve(dir, *ca_file);
    absl::Status s = CheckReadable(e, cw + ".certificate-authority", out.ca_file);
    if (!s.ok()) return s;
  }

  // User (optional: a context without one is anonymous).
  if (user_name->empty()) return out;
  absl::StatusOr<std::optional<YAML::Node>> found_user =
      FindNamed(e, root, "users", "user", *user_name);
  if (!found_user.ok()) return found_user.status();
  if (!found_user->has_value()) return e.Bad(ctx_where, absl::StrFormat("user \"%s\" not found", *user_name));
  const YAML::Node* user = &**found_user;
  const std::string uw = absl::StrFormat("users[name=%s].user", *user_name);

  if (Has(*user, "exec")) {
    std::string command;
    if ((*user)["exec"].IsMap()) {
      absl::StatusOr<std::string> c = GetString(e, (*user)["exec"], "command", uw + ".exec");
      if (c.ok()) command = *c;
    }
    return e.Bad(uw + ".exec",
                 absl::StrFormat("exec credential plugins are not supported (command \"%s\"); "
                                 "use a token, tokenFile or client certificate",
                                 command),
                 absl::StatusCode::kUnimplemented);
  }
  if (Has(*user, "auth-provider")) {
    std::string provider;
    if ((*user)["auth-provider"].IsMap()) {
      absl::StatusOr<std::string> n =
          GetString(e, (*user)["auth-provider"], "name", uw + ".auth-provider");
      if (n.ok()) provider = *n;
    }
    return e.Bad(uw + ".auth-provider",
                 absl::StrFormat("auth provider plugins are not supported (name \"%s\"); use a "
                                 "token, tokenFile or client certificate",
                                 provider),
                 absl::StatusCode::kUnimplemented);
  }
  if (Has(*user, "username") || Has(*user, "password")) {
    return e.Bad(uw + (Has(*user, "username") ? ".username" : ".password"),
                 "basic authentication (username/password) is not supported; use a token, "
                 "tokenFile or client certificate",
                 absl::StatusCode::kUnimplemented);
  }

  absl::StatusOr<std::string> token = GetString(e, *user, "token", uw);
  if (!token.ok()) return token.status();
  absl::StatusOr<std::string> token_file = GetString(e, *user, "tokenFile", uw);
  if (!token_file.ok()) return token_file.status();
  if (!token->empty()) {
    out.bearer_token = *token;
  } else if (!token_file->empty()) {
    std::string resolved = Resolve(dir, *token_file);
    absl::StatusOr<std::string> content = ReadFile(resolved);
    if (!content.ok()) {
      return e.Bad(uw + ".tokenFile", absl::StrCat("cannot read \"", resolved,
                                                   "\": ", content.status().message()));
    }
    out.bearer_token = std::string(absl::StripAsciiWhitespace(*content));
    if (out.bearer_token.empty()) {
      return e.Bad(uw + ".tokenFile", absl::StrCat("\"", resolved, "\" is empty"));
    }
    out.bearer_token_file = resolved;  // re-read when it changes, as client-go does
  }

  struct Pem {
    const char* file_key;
    const char* data_key;
    std::string* file_out;
    std::string* data_out;
    bool present = false;
  };
  Pem pems[] = {{"client-certificate", "client-certificate-data", &out.cert_file, &out.cert_data},
                {"client-key", "client-key-data", &out.key_file, &out.key_data}};
  for (Pem& p : pems) {
    absl::StatusOr<std::string> file = GetString(e, *user, p.file_key, uw);
    if (!file.ok()) return file.status();
    absl::StatusOr<std::string> data = GetString(e, *user, p.data_key, uw);
    if (!data.ok()) return data.status();
    if (!data->empty()) {
      absl::StatusOr<std::string> pem = DecodePem(e, absl::StrCat(uw, ".", p.data_key), *data);
      if (!pem.ok()) return pem.status();
      *p.data_out = *std::move(pem);
      p.present = true;
    } else if (!file->empty()) {
      *p.file_out = Resolve(dir, *file);
      absl::Status s = CheckReadable(e, absl::StrCat(uw, ".", p.file_key), *p.file_out);
      if (!s.ok()) return s;
      p.present = true;
    }
  }
  if (pems[0].present != pems[1].present) {
    return e.Bad(uw, pems[0].present
                         ? "client-certificate(-data) is set but client-key(-data) is not"
                         : "client-key(-data) is set but client-certificate(-data) is not");
  }
  return out;
}

}  // namespace

absl::StatusOr<http::ClientOptions> LoadKubeconfig(const std::string& path,
                                                   std::string_view context) {
  try {
    return Load(path, context);
  } catch (const std::exception& ex) {  // yaml-cpp accessors; never let one escape
    return absl::InvalidArgumentError(absl::StrCat("kubeconfig ", path, ": ", ex.what()));
  }
}

std::string DefaultKubeconfigPath() {
  const char* env = std::getenv("KUBECONFIG");
  if (env != nullptr && *env != '\0') {
    for (absl::string_view p : absl::StrSplit(env, ':', absl::SkipEmpty())) {
      return std::string(p);
    }
  }
  const char* home = std::getenv("HOME");
  if (home != nullptr && *home != '\0') return absl::StrCat(home, "/.kube/config");
  return "";
}

absl::StatusOr<http::ClientOptions> InClusterConfig(std::string_view root_arg) {
  const std::string root(root_arg);
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || *host == '\0' || port == nullptr || *port == '\0') {
    std::string missing = (host == nullptr || *host == '\0')
                              ? ((port == nullptr || *port == '\0')
                                     ? "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are"
                                     : "KUBERNETES_SERVICE_HOST is")
                              : "KUBERNETES_SERVICE_PORT is";
    return absl::FailedPreconditionError(
        absl::StrCat("in-cluster config: ", missing, " not set (not running in a pod?)"));
  }
  std::string h = host;
  if (h.find(':') != std::string::npos && h.front() != '[') h = absl::StrCat("[", h, "]");

  const std::string token_path = root + "/token";
  absl::StatusOr<std::string> token = ReadFile(token_path);
  if (!token.ok()) {
    return absl::Status(token.status().code(),
                        absl::StrCat("in-cluster config: service account token ", token_path,
                                     ": ", token.status().message()));
  }
  http::ClientOptions out;
  out.bearer_token = std::string(absl::StripAsciiWhitespace(*token));
  if (out.bearer_token.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("in-cluster config: service account token ", token_path, " is empty"));
  }
  out.bearer_token_file = token_path;  // the kubelet rotates it: the client re-reads it
  const std::string ca_path = root + "/ca.crt";
  absl::StatusOr<std::string> ca = ReadFile(ca_path);
  if (!ca.ok()) {
    return absl::Status(ca.status().code(), absl::StrCat("in-cluster config: cluster CA ", ca_path,
                                                         ": ", ca.status().message()));
  }
  out.ca_file = ca_path;
  out.base_url = absl::StrCat("https://", h, ":", port);
  return out;
}

}  // namespace gpusched::extender::k8s

#pragma once

// How the extender reaches the Kubernetes API: a kubeconfig file (as kubectl reads it) or the
// in-cluster service account, turned into http::ClientOptions.
//
//   ASSIGN_OR_RETURN(http::ClientOptions api, k8s::LoadKubeconfig("/home/me/.kube/config"));
//   ASSIGN_OR_RETURN(http::ClientOptions api, k8s::InClusterConfig());
//   ASSIGN_OR_RETURN(auto client, http::Client::Create(api));
//
// Errors never throw and name the file and the key path:
//   InvalidArgument   kubeconfig /x: contexts[name=dev]: cluster "c2" not found
//   InvalidArgument   kubeconfig /x: clusters[name=c1].cluster.certificate-authority-data: not valid base64
//   Unimplemented     kubeconfig /x: users[name=eks].user.exec: exec credential plugins are not supported ...
//   NotFound          kubeconfig /x: cannot read the file: No such file or directory
//   FailedPrecondition in-cluster config: KUBERNETES_SERVICE_HOST is not set (not running in a pod?)
//
// Thread-safe (stateless); InClusterConfig reads the environment.

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/http/http.h"

namespace gpusched::extender::k8s {

// Reads a kubeconfig (YAML, kind Config) and resolves `context` (default: current-context) to its
// cluster and user:
//   cluster: server (-> base_url; https:// or http://; "host:port" means https), certificate-
//     authority (a file; relative paths are resolved against the kubeconfig's directory, as kubectl
//     does) or certificate-authority-data (base64 PEM -> ca_data; data wins over the file),
//     insecure-skip-tls-verify (-> insecure; with a CA it is an error, as in kubectl),
//     tls-server-name (-> server_name). proxy-url and extensions are ignored.
//   user: token (wins) or tokenFile (read now and re-read when it changes, whitespace trimmed;
//     relative to the kubeconfig),
//     client-certificate / client-certificate-data and client-key / client-key-data (both or
//     neither; data wins over the file; files must be readable now). exec and auth-provider
//     plugins and username/password are Unimplemented. A context without a user is anonymous.
// The context's namespace is not part of ClientOptions and is ignored.
absl::StatusOr<http::ClientOptions> LoadKubeconfig(const std::string& path,
                                                   std::string_view context = "");

// The path kubectl would use: the first entry of $KUBECONFIG (':'-separated; the files are not
// merged), else $HOME/.kube/config; "" if neither is set.
std::string DefaultKubeconfigPath();

// The pod's service account, as client-go's rest.InClusterConfig: https://$KUBERNETES_SERVICE_HOST:
// $KUBERNETES_SERVICE_PORT (an IPv6 host is bracketed), bearer token from `root`/token, CA from
// `root`/ca.crt (ca_file; must exist). Errors name what is missing.
//
// Token rotation: projected service-account tokens are short-lived; the kubelet rewrites `token`
// before it expires (about hourly). The options name the file (bearer_token_file), so the client
// re-reads it when it changes and when the API server answers 401, as client-go does; a
// kubeconfig's tokenFile is followed the same way.
absl::StatusOr<http::ClientOptions> InClusterConfig(
    std::string_view root = "/var/run/secrets/kubernetes.io/serviceaccount");

}  // namespace gpusched::extender::k8s

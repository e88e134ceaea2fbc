#include "extender/k8s/binder.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "extender/k8s/objects.h"
#include "nlohmann/json.hpp"

namespace gpusched::extender::k8s {
namespace {

using Json = nlohmann::json;

// The API server's message for a failed call, or its HTTP status.
std::string Message(const http::Response& r) {
  std::string m = StatusMessage(r.body);
  return m.empty() ? absl::StrCat("HTTP ", r.status) : m;
}

}  // namespace

void ApiBinder::Count(std::string_view result) {
  metrics_.GetCounter("gpusched_api_binding_total", "Bindings posted to the API server, by outcome.",
                      {{"result", std::string(result)}})
      .Increment();
}

bool ApiBinder::BoundThere(const framework::PodInfo& pod, const NodeId& node) {
  absl::StatusOr<http::Response> r =
      api_.Do("GET", absl::StrCat("/api/v1/namespaces/", pod.namespace_name, "/pods/", pod.name));
  if (!r.ok() || r->status != 200) return false;
  absl::StatusOr<PodObject> p = DecodePod(std::string_view(r->body));
  return p.ok() && p->info.uid == pod.uid && p->node_name == node.str();
}

void ApiBinder::ClearAssignment(const framework::PodInfo& pod) {
  const Json patch = {{"metadata",
                       {{"uid", pod.uid.str()},
                        {"annotations", {{std::string(kAssignmentAnnotation), nullptr}}}}}};
  absl::StatusOr<http::Response> r =
      api_.Do("PATCH", absl::StrCat("/api/v1/namespaces/", pod.namespace_name, "/pods/", pod.name),
              patch.dump(), {{"Content-Type", "application/merge-patch+json"}});
  if ((!r.ok() || (r->status != 200 && r->status != 404)) && logger_ != nullptr) {
    logger_->Warn("could not remove a stale device assignment (it names another node, so it is "
                  "ignored)", {{"pod", pod.FullName()}});
  }
}

absl::Status ApiBinder::Bind(const framework::PodInfo& pod, const NodeId& node,
                             absl::Span<const framework::GpuShare> gpus) {
  bool wrote = false;
  absl::Status s = PostBinding(pod, node, gpus, wrote);
  // The assignment names a node the pod is not bound to: take it back (best effort; readers
  // ignore an assignment for another node anyway).
  if (!s.ok() && wrote && !absl::IsNotFound(s)) ClearAssignment(pod);
  return s;
}

absl::Status ApiBinder::WriteAssignment(const framework::PodInfo& pod, const NodeId& node,
                                        absl::Span<const framework::GpuShare> gpus) {
  const std::string who = pod.FullName();
  const std::string assignment =
      EncodeAssignment(Assignment{node, std::vector<framework::GpuShare>(gpus.begin(), gpus.end())});
  const Json patch = {{"metadata",
                       {{"uid", pod.uid.str()},
                        {"annotations", {{std::string(kAssignmentAnnotation), assignment}}}}}};
  absl::StatusOr<http::Response> r =
      api_.Do("PATCH", absl::StrCat("/api/v1/namespaces/", pod.namespace_name, "/pods/", pod.name),
              patch.dump(), {{"Content-Type", "application/merge-patch+json"}});
  if (!r.ok()) {
    Count("error");
    return absl::UnavailableError(
        absl::StrCat("writing the device assignment on ", who, ": ", r.status().message()));
  }
  if (r->status == 404) {
    Count("not_found");
    return absl::NotFoundError(absl::StrCat("pod ", who, " no longer exists"));
  }
  if (r->status != 200) {
    Count("error");
    return absl::FailedPreconditionError(
        absl::StrCat("writing the device assignment on ", who, ": ", Message(*r)));
  }
  return absl::OkStatus();
}

absl::Status ApiBinder::PostBinding(const framework::PodInfo& pod, const NodeId& node,
                                    absl::Span<const framework::GpuShare> gpus, bool& wrote) {
  const std::string pod_path =
      absl::StrCat("/api/v1/namespaces/", pod.namespace_name, "/pods/", pod.name);
  const std::string who = pod.FullName();
  if (!gpus.empty()) {
    if (absl::Status w = WriteAssignment(pod, node, gpus); !w.ok()) return w;
    wrote = true;
  }
  const Json binding = {
      {"kind", "Binding"},
      {"apiVersion", "v1"},
      {"metadata", {{"name", pod.name}, {"namespace", pod.namespace_name}, {"uid", pod.uid.str()}}},
      {"target", {{"kind", "Node"}, {"name", node.str()}}}};
  absl::StatusOr<http::Response> r = api_.Do("POST", pod_path + "/binding", binding.dump());
  if (!r.ok()) {
    // The Binding may have been made and only the answer lost: ask.
    if (BoundThere(pod, node)) {
      Count("already_bound");
      return absl::OkStatus();
    }
    Count("error");
    return absl::UnavailableError(absl::StrCat("binding ", who, ": ", r.status().message()));
  }
  switch (r->status) {
    case 200:
    case 201:
      Count("created");
      return absl::OkStatus();
    case 404:
      Count("not_found");
      return absl::NotFoundError(absl::StrCat("pod ", who, " no longer exists"));
    case 409:
      if (BoundThere(pod, node)) {
        Count("already_bound");
        return absl::OkStatus();
      }
      Count("conflict");
      return absl::FailedPreconditionError(absl::StrCat("binding ", who, ": ", Message(*r)));
    default:
      Count("error");
      return absl::UnavailableError(absl::StrCat("binding ", who, ": ", Message(*r)));
  }
}

}  // namespace gpusched::extender::k8s

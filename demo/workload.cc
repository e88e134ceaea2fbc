#include "demo/workload.h"

#include <cstdint>
#include <exception>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/file.h"
#include "scheduler/runtime/yaml_guard.h"
#include "yaml-cpp/yaml.h"

namespace gpusched::demo {
namespace {

using Json = nlohmann::json;

// A YAML node as the API server would store the same object in JSON.
Json ToJson(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      Json out = Json::object();
      for (const auto& kv : n) out[kv.first.as<std::string>()] = ToJson(kv.second);
      return out;
    }
    case YAML::NodeType::Sequence: {
      Json out = Json::array();
      for (const auto& item : n) out.push_back(ToJson(item));
      return out;
    }
    case YAML::NodeType::Scalar: {
      const std::string s = n.Scalar();
      if (n.Tag() == "!") return s;  // quoted: a string
      int64_t i = 0;
      if (absl::SimpleAtoi(s, &i)) return i;
      if (s == "true" || s == "false") return s == "true";
      if (s == "null" || s == "~") return nullptr;
      return s;
    }
    default:
      return nullptr;
  }
}

// Quantities, labels and annotations are strings on the wire whatever the YAML said.
void Stringify(Json& map) {
  if (!map.is_object()) return;
  for (auto& [k, v] : map.items()) {
    if (v.is_number_integer()) v = std::to_string(v.get<int64_t>());
    else if (v.is_boolean()) v = v.get<bool>() ? "true" : "false";
  }
}

void NormalizeMetadata(Json& metadata) {
  if (metadata.contains("labels")) Stringify(metadata["labels"]);
  if (metadata.contains("annotations")) Stringify(metadata["annotations"]);
}

class DocumentError {
 public:
  DocumentError(std::string_view source, int index, const Json& doc) {
    prefix_ = absl::StrCat(std::string(source), ": document ", index);
    if (doc.is_object() && doc.contains("kind") && doc["kind"].is_string()) {
      const Json& md = doc.value("metadata", Json::object());
      std::string name = md.is_object() ? md.value("name", std::string()) : std::string();
      std::string ns = md.is_object() ? md.value("namespace", std::string()) : std::string();
      if (name.empty()) {
        absl::StrAppend(&prefix_, " (", doc["kind"].get<std::string>(), ")");
      } else {
        absl::StrAppend(&prefix_, " (", doc["kind"].get<std::string>(), " ",
                        ns.empty() ? "default" : ns, "/", name, ")");
      }
    }
  }
  absl::Status operator()(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(prefix_, ": ", what));
  }

 private:
  std::string prefix_;
};

// metadata.name (required, a DNS label-ish string) and metadata.namespace (default "default").
absl::Status CheckMetadata(Json& obj, const DocumentError& error) {
  if (!obj.contains("metadata") || !obj["metadata"].is_object()) return error("metadata: missing");
  Json& md = obj["metadata"];
  if (!md.contains("name") || !md["name"].is_string() || md["name"].get<std::string>().empty()) {
    return error("metadata.name: missing or not a string");
  }
  if (!md.contains("namespace")) md["namespace"] = "default";
  if (!md["namespace"].is_string()) return error("metadata.namespace: not a string");
  NormalizeMetadata(md);
  return absl::OkStatus();
}

absl::Status CheckPodSpec(Json& spec, const std::string& at, const DocumentError& error) {
  if (!spec.is_object()) return error(absl::StrCat(at, ": missing or not a map"));
  if (!spec.contains("containers") || !spec["containers"].is_array() ||
      spec["containers"].empty()) {
    return error(absl::StrCat(at, ".containers: missing"));
  }
  for (size_t i = 0; i < spec["containers"].size(); ++i) {
    Json& c = spec["containers"][i];
    if (!c.is_object()) return error(absl::StrCat(at, ".containers[", i, "]: not a map"));
    if (!c.contains("resources")) continue;
    for (const char* part : {"limits", "requests"}) {
      if (c["resources"].contains(part)) Stringify(c["resources"][part]);
    }
  }
  return absl::OkStatus();
}

// A Pod from a controller's template, as the controller would create it.
Json PodFromTemplate(const Json& owner, const Json& tmpl, const std::string& name, int index,
                     bool indexed_job) {
  Json md = tmpl.value("metadata", Json::object());
  md["name"] = name;
  md["namespace"] = owner["metadata"]["namespace"];
  if (indexed_job) {
    md["labels"]["batch.kubernetes.io/job-completion-index"] = std::to_string(index);
    md["annotations"]["batch.kubernetes.io/job-completion-index"] = std::to_string(index);
  }
  NormalizeMetadata(md);
  return Json{{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", md},
              {"spec", tmpl["spec"]}, {"status", {{"phase", "Pending"}}}};
}

absl::StatusOr<int64_t> Count(const Json& spec, const char* field, const DocumentError& error) {
  if (!spec.contains(field)) return 1;
  if (!spec[field].is_number_integer() || spec[field].get<int64_t>() < 0 ||
      spec[field].get<int64_t>() > static_cast<int64_t>(kMaxWorkloadPods)) {
    return error(absl::StrCat("spec.", field, ": not a whole number in 0..", kMaxWorkloadPods));
  }
  return spec[field].get<int64_t>();
}

absl::Status AddDocument(Json doc, int index, std::string_view source, Workload& out,
                         std::set<std::string>& pod_names) {
  const DocumentError error(source, index, doc);
  if (!doc.is_object()) return error("not a map (a Kubernetes object)");
  if (!doc.contains("kind") || !doc["kind"].is_string()) return error("kind: missing");
  if (!doc.contains("apiVersion") || !doc["apiVersion"].is_string()) {
    return error("apiVersion: missing");
  }
  const std::string kind = doc["kind"];
  const std::string api_version = doc["apiVersion"];
  if (absl::Status s = CheckMetadata(doc, error); !s.ok()) return s;

  auto add_pod = [&](Json pod) -> absl::Status {
    const std::string key = absl::StrCat(pod["metadata"]["namespace"].get<std::string>(), "/",
                                         pod["metadata"]["name"].get<std::string>());
    if (!pod_names.insert(key).second) return error(absl::StrCat("pod ", key, " is defined twice"));
    if (out.pods.size() >= kMaxWorkloadPods) {
      return error(absl::StrCat("more than ", kMaxWorkloadPods, " pods"));
    }
    out.pods.push_back(std::move(pod));
    return absl::OkStatus();
  };

  if (kind == "Pod" && api_version == "v1") {
    if (absl::Status s = CheckPodSpec(doc["spec"], "spec", error); !s.ok()) return s;
    doc["status"] = {{"phase", "Pending"}};
    return add_pod(std::move(doc));
  }
  const bool job = kind == "Job" && api_version == "batch/v1";
  const bool deployment = kind == "Deployment" && api_version == "apps/v1";
  if (job || deployment) {
    if (!doc.contains("spec") || !doc["spec"].is_object()) return error("spec: missing");
    const Json& spec = doc["spec"];
    if (!spec.contains("template") || !spec["template"].is_object()) {
      return error("spec.template: missing");
    }
    Json tmpl = spec["template"];
    if (absl::Status s = CheckPodSpec(tmpl["spec"], "spec.template.spec", error); !s.ok()) return s;
    absl::StatusOr<int64_t> n = Count(spec, job ? "parallelism" : "replicas", error);
    if (!n.ok()) return n.status();
    const bool indexed = job && spec.value("completionMode", std::string()) == "Indexed";
    const std::string base = doc["metadata"]["name"];
    for (int64_t i = 0; i < *n; ++i) {
      if (absl::Status s = add_pod(PodFromTemplate(doc, tmpl, absl::StrCat(base, "-", i),
                                                   static_cast<int>(i), indexed));
          !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  }
  static const std::set<std::string>* kGroupApis = new std::set<std::string>{
      "scheduling.x-k8s.io/v1alpha1", "scheduling.k8s.io/v1alpha2", "scheduling.k8s.io/v1beta1",
      "scheduling.volcano.sh/v1beta1"};
  if (kind == "PodGroup" && kGroupApis->contains(api_version)) {
    if (doc.contains("spec") && doc["spec"].contains("minResources")) {
      Stringify(doc["spec"]["minResources"]);
    }
    out.groups.push_back({absl::StrCat(api_version, "/podgroups"), std::move(doc)});
    return absl::OkStatus();
  }
  if (kind == "Workload" && api_version == "scheduling.k8s.io/v1alpha1") {
    out.groups.push_back({absl::StrCat(api_version, "/workloads"), std::move(doc)});
    return absl::OkStatus();
  }
  return error(absl::StrCat(
      "kind ", kind, " (", api_version,
      ") is not one the demo creates: v1 Pod, batch/v1 Job, apps/v1 Deployment, PodGroup "
      "(scheduling.x-k8s.io/v1alpha1, scheduling.k8s.io/v1alpha2 or v1beta1, "
      "scheduling.volcano.sh/v1beta1), Workload (scheduling.k8s.io/v1alpha1)"));
}

}  // namespace

absl::StatusOr<Workload> ParseWorkload(std::string_view yaml, std::string_view source) {
  // Documents are separated by "---" lines; each is checked (no aliases, bounded size and depth,
  // no duplicate keys) before yaml-cpp reads it.
  std::vector<std::string> documents(1);
  const std::string text_all(runtime::StripUtf8Bom(yaml));
  for (absl::string_view line : absl::StrSplit(text_all, '\n')) {
    if (absl::StripTrailingAsciiWhitespace(line) == "---") {
      documents.emplace_back();
    } else {
      absl::StrAppend(&documents.back(), line, "\n");
    }
  }
  Workload out;
  std::set<std::string> pod_names;
  int index = 0;
  for (const std::string& text : documents) {
    ++index;
    const std::string where = absl::StrCat(std::string(source), " document ", index);
    if (absl::Status s = runtime::CheckYamlDocument(text, where); !s.ok()) return s;
    Json doc;
    try {
      const YAML::Node node = YAML::Load(text);
      if (!node.IsDefined() || node.IsNull()) continue;  // an empty document
      doc = ToJson(node);
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", e.what()));
    }
    if (absl::Status s = AddDocument(std::move(doc), index, source, out, pod_names); !s.ok()) {
      return s;
    }
  }
  if (out.pods.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(source), ": no pods (Pod, Job or Deployment)"));
  }
  return out;
}

absl::StatusOr<Workload> LoadWorkload(const std::string& path) {
  absl::StatusOr<std::string> text = ReadInputFile(path, size_t{16} << 20);
  if (!text.ok()) return text.status();
  return ParseWorkload(*text, path);
}

}  // namespace gpusched::demo

// Structure checks for everything under deploy/: what a cluster operator applies must parse, and
// the parts that must agree with each other (kube-scheduler's strict config decoding, the extender
// port, RBAC, example resource names) do. Every failure names the file and the object.
//
// The repository is found through GPUSCHED_SOURCE_DIR (set by gpusched_cc_test).

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "yaml-cpp/yaml.h"

namespace gpusched {
namespace {

namespace fs = std::filesystem;

// One YAML document of one file.
struct Doc {
  std::string file;  // relative to the repository root, e.g. "deploy/base/rbac.yaml"
  int index = 0;     // document number within the file
  YAML::Node node;
};

// A KubeSchedulerConfiguration found in a ConfigMap.
struct SchedulerConfig {
  std::string where;  // "deploy/base/scheduler-config.yaml: ConfigMap/x data[scheduler-config.yaml]"
  YAML::Node node;
};

// --- small, non-throwing accessors -----------------------------------------------------------

YAML::Node Child(const YAML::Node& n, const std::string& key) {
  if (n.IsDefined() && n.IsMap()) {
    for (const auto& kv : n) {
      if (kv.first.IsScalar() && kv.first.Scalar() == key) return kv.second;
    }
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

// Never `node = other` here: yaml-cpp's Node assignment writes through to the node it refers to
// (it would rewrite the loaded document), so walk with copies only.
YAML::Node PathFrom(const YAML::Node& n, const char* const* first, const char* const* last) {
  if (first == last) return n;
  return PathFrom(Child(n, *first), first + 1, last);
}

YAML::Node Path(const YAML::Node& n, std::initializer_list<const char*> keys) {
  return PathFrom(n, keys.begin(), keys.end());
}

std::string Str(const YAML::Node& n) { return n.IsDefined() && n.IsScalar() ? n.Scalar() : ""; }

std::vector<YAML::Node> Items(const YAML::Node& n) {
  std::vector<YAML::Node> out;
  if (n.IsDefined() && n.IsSequence()) {
    for (const auto& x : n) out.push_back(x);
  }
  return out;
}

std::vector<std::string> Keys(const YAML::Node& n) {
  std::vector<std::string> out;
  if (n.IsDefined() && n.IsMap()) {
    for (const auto& kv : n) out.push_back(kv.first.Scalar());
  }
  return out;
}

std::vector<std::string> Strings(const YAML::Node& n) {
  std::vector<std::string> out;
  for (const auto& x : Items(n)) out.push_back(Str(x));
  return out;
}

std::string ObjectName(const Doc& d) {
  return Str(Child(d.node, "kind")) + "/" + Str(Path(d.node, {"metadata", "name"}));
}

std::string Where(const Doc& d) { return d.file + ": " + ObjectName(d); }

bool IsKustomizeFile(const Doc& d) {
  return fs::path(d.file).filename() == "kustomization.yaml" ||
         Str(Child(d.node, "apiVersion")).rfind("kustomize.config.k8s.io/", 0) == 0;
}

// Reports keys of `n` outside `allowed`.
void ExpectOnlyKeys(const YAML::Node& n, const std::set<std::string>& allowed,
                    const std::string& where) {
  for (const std::string& k : Keys(n)) {
    EXPECT_TRUE(allowed.count(k)) << where << ": unknown key \"" << k
                                  << "\" (the decoder is strict)";
  }
}

// A Go time.Duration string as metav1.Duration accepts it ("30s", "1m30s", "500ms", "0").
bool IsGoDuration(const std::string& s) {
  static const std::regex kDuration(R"(^[-+]?(0|([0-9]*(\.[0-9]*)?(ns|us|µs|ms|s|m|h))+)$)");
  return !s.empty() && s != "." && std::regex_match(s, kDuration);
}

// "http://127.0.0.1:8888/x" -> 8888; also "HOST:PORT". nullopt without a port.
std::optional<int> PortOf(const std::string& address) {
  static const std::regex kPort(R"(^(?:[a-z]+://)?(?:\[[^\]]*\]|[^/:]*):([0-9]+)(?:/.*)?$)");
  std::smatch m;
  if (!std::regex_match(address, m, kPort)) return std::nullopt;
  return std::stoi(m[1].str());
}

// All pod specs in a document: a Pod's spec, or spec.template.spec of a workload.
std::vector<YAML::Node> PodSpecs(const YAML::Node& obj) {
  const std::string kind = Str(Child(obj, "kind"));
  if (kind == "Pod") return {Child(obj, "spec")};
  if (kind == "Deployment" || kind == "Job" || kind == "StatefulSet" || kind == "DaemonSet" ||
      kind == "ReplicaSet") {
    return {Path(obj, {"spec", "template", "spec"})};
  }
  if (kind == "CronJob") return {Path(obj, {"spec", "jobTemplate", "spec", "template", "spec"})};
  return {};
}

YAML::Node PodLabels(const YAML::Node& obj) {
  return Str(Child(obj, "kind")) == "Pod" ? Path(obj, {"metadata", "labels"})
                                          : Path(obj, {"spec", "template", "metadata", "labels"});
}

// --- the fixture: every document under deploy/, loaded once ----------------------------------

class DeployManifestsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const char* dir = std::getenv("GPUSCHED_SOURCE_DIR");
    root_ = new fs::path(dir != nullptr ? dir : "");
    docs_ = new std::vector<Doc>();
    load_errors_ = new std::vector<std::string>();
    if (dir == nullptr || !fs::is_directory(*root_ / "deploy")) return;
    std::vector<fs::path> files;
    for (const auto& e : fs::recursive_directory_iterator(*root_ / "deploy")) {
      const std::string ext = e.path().extension().string();
      if (e.is_regular_file() && (ext == ".yaml" || ext == ".yml")) files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    for (const fs::path& f : files) {
      const std::string rel = fs::relative(f, *root_).string();
      try {
        int i = 0;
        for (const YAML::Node& n : YAML::LoadAllFromFile(f.string())) {
          if (n.IsDefined() && !n.IsNull()) docs_->push_back({rel, i, n});
          ++i;
        }
      } catch (const YAML::Exception& e) {
        load_errors_->push_back(rel + ": " + e.what());
      }
    }
  }
  static void TearDownTestSuite() {
    delete root_;
    delete docs_;
    delete load_errors_;
  }

  void SetUp() override {
    if (std::getenv("GPUSCHED_SOURCE_DIR") == nullptr) {
      GTEST_FAIL() << "GPUSCHED_SOURCE_DIR is not set (ctest sets it; or export it to the "
                      "repository root)";
    }
  }

  static const std::vector<Doc>& docs() { return *docs_; }
  static const fs::path& root() { return *root_; }

  static std::vector<const Doc*> OfKind(const std::string& kind) {
    std::vector<const Doc*> out;
    for (const Doc& d : docs()) {
      if (Str(Child(d.node, "kind")) == kind) out.push_back(&d);
    }
    return out;
  }

  // Parses one data entry of the ConfigMaps that carry it.
  static std::vector<SchedulerConfig> ConfigMapEntries(const std::string& key) {
    std::vector<SchedulerConfig> out;
    for (const Doc* d : OfKind("ConfigMap")) {
      const YAML::Node text = Child(Child(d->node, "data"), key);
      if (!text.IsDefined()) continue;
      const std::string where = Where(*d) + " data[" + key + "]";
      try {
        out.push_back({where, YAML::Load(Str(text))});
      } catch (const YAML::Exception& e) {
        ADD_FAILURE() << where << ": not YAML: " << e.what();
      }
    }
    return out;
  }

  // The v1 configuration of the base (the one `kubectl apply -k deploy/base` installs).
  static std::optional<SchedulerConfig> BaseSchedulerConfig() {
    for (const SchedulerConfig& c : ConfigMapEntries("scheduler-config.yaml")) {
      if (c.where.rfind("deploy/base/", 0) == 0) return c;
    }
    return std::nullopt;
  }

  static fs::path* root_;
  static std::vector<Doc>* docs_;
  static std::vector<std::string>* load_errors_;
};

fs::path* DeployManifestsTest::root_ = nullptr;
std::vector<Doc>* DeployManifestsTest::docs_ = nullptr;
std::vector<std::string>* DeployManifestsTest::load_errors_ = nullptr;

TEST_F(DeployManifestsTest, EveryYamlFileParses) {
  for (const std::string& e : *load_errors_) ADD_FAILURE() << e;
  for (const char* f : {"deploy/base/kustomization.yaml", "deploy/base/namespace.yaml",
                        "deploy/base/rbac.yaml", "deploy/base/scheduler-config.yaml",
                        "deploy/base/deployment.yaml", "deploy/base/podgroup-crd.yaml",
                        "deploy/v1beta1/scheduler-config-1.20.yaml",
                        "deploy/overlays/k8s-1.20/kustomization.yaml",
                        "deploy/monitoring/podmonitor.yaml",
                        "deploy/monitoring/prometheus-scrape.yaml"}) {
    EXPECT_TRUE(fs::is_regular_file(root() / f)) << f << ": missing";
  }
  EXPECT_GE(docs().size(), 15u);
}

TEST_F(DeployManifestsTest, EveryKubernetesObjectHasApiVersionKindAndName) {
  for (const Doc& d : docs()) {
    const std::string at = d.file + " (document " + std::to_string(d.index) + ")";
    if (!d.node.IsMap()) {
      ADD_FAILURE() << at << ": a document must be a mapping";
      continue;
    }
    if (IsKustomizeFile(d)) {
      const std::string kind = Str(Child(d.node, "kind"));
      EXPECT_TRUE(kind == "Kustomization" || kind == "Component")
          << at << ": kustomize kind must be Kustomization or Component, is \"" << kind << "\"";
      continue;
    }
    const bool has_type = Child(d.node, "apiVersion").IsDefined() || Child(d.node, "kind").IsDefined();
    if (!has_type && Child(d.node, "scrape_configs").IsDefined()) continue;  // Prometheus snippet
    EXPECT_FALSE(Str(Child(d.node, "apiVersion")).empty()) << at << ": no apiVersion";
    EXPECT_FALSE(Str(Child(d.node, "kind")).empty()) << at << ": no kind";
    EXPECT_FALSE(Str(Path(d.node, {"metadata", "name"})).empty())
        << at << ": " << Str(Child(d.node, "kind")) << " has no metadata.name";
  }
}

TEST_F(DeployManifestsTest, KustomizationsListFilesThatExist) {
  int seen = 0;
  for (const Doc& d : docs()) {
    if (!IsKustomizeFile(d)) continue;
    ++seen;
    const fs::path dir = (root() / d.file).parent_path();
    std::vector<std::string> refs;
    for (const char* key : {"resources", "components", "patchesStrategicMerge", "crds"}) {
      for (const std::string& r : Strings(Child(d.node, key))) refs.push_back(r);
    }
    for (const YAML::Node& p : Items(Child(d.node, "patches"))) {
      if (Child(p, "path").IsDefined()) refs.push_back(Str(Child(p, "path")));
    }
    for (const YAML::Node& g : Items(Child(d.node, "configMapGenerator"))) {
      for (std::string f : Strings(Child(g, "files"))) {
        if (auto eq = f.find('='); eq != std::string::npos) f = f.substr(eq + 1);
        refs.push_back(f);
      }
    }
    for (const std::string& r : refs) {
      if (r.find("://") != std::string::npos) continue;  // remote base
      const fs::path p = dir / r;
      EXPECT_TRUE(fs::is_regular_file(p) || fs::is_regular_file(p / "kustomization.yaml"))
          << d.file << ": lists \"" << r << "\", which is neither a file nor a kustomization";
    }
    if (d.file == "deploy/base/kustomization.yaml") {
      EXPECT_EQ(Str(Child(d.node, "namespace")), "gpusched-system") << d.file << ": namespace";
      // The PodMonitor needs a CRD that may be absent: never in the base.
      for (const std::string& r : refs) {
        EXPECT_EQ(r.find("podmonitor"), std::string::npos) << d.file << ": lists " << r;
      }
    }
  }
  EXPECT_GE(seen, 2) << "expected deploy/base and deploy/overlays/k8s-1.20 kustomizations";
}

// Field lists of kube-scheduler's config types (staging/src/k8s.io/kube-scheduler/config/v1 and
// v1beta1). The file is decoded strictly: any other key stops kube-scheduler at start-up.
const std::set<std::string> kExtenderKeys = {
    "urlPrefix",  "filterVerb",  "preemptVerb",      "prioritizeVerb",   "bindVerb", "weight",
    "enableHTTPS", "tlsConfig",  "httpTimeout",      "nodeCacheCapable", "managedResources",
    "ignorable"};
const std::set<std::string> kTlsKeys = {"insecure", "serverName", "certFile", "keyFile",
                                        "caFile",   "certData",   "keyData",  "caData"};
const std::set<std::string> kManagedResourceKeys = {"name", "ignoredByScheduler"};
const std::set<std::string> kLeaderElectionKeys = {
    "leaderElect", "leaseDuration",  "renewDeadline",    "retryPeriod",
    "resourceLock", "resourceName", "resourceNamespace"};

std::set<std::string> TopLevelKeys(const std::string& api_version) {
  std::set<std::string> keys = {"apiVersion",
                                "kind",
                                "parallelism",
                                "leaderElection",
                                "clientConnection",
                                "enableProfiling",
                                "enableContentionProfiling",
                                "percentageOfNodesToScore",
                                "podInitialBackoffSeconds",
                                "podMaxBackoffSeconds",
                                "profiles",
                                "extenders"};
  if (api_version == "kubescheduler.config.k8s.io/v1") keys.insert("delayCacheUntilActive");
  if (api_version == "kubescheduler.config.k8s.io/v1beta1") {
    keys.insert("healthzBindAddress");
    keys.insert("metricsBindAddress");
  }
  return keys;
}

bool IsTrue(const YAML::Node& n) { return Str(n) == "true"; }

TEST_F(DeployManifestsTest, SchedulerConfigsDecodeStrictlyAndValidate) {
  const std::vector<SchedulerConfig> configs = ConfigMapEntries("scheduler-config.yaml");
  ASSERT_GE(configs.size(), 2u) << "expected the v1 (base) and v1beta1 scheduler configs";
  for (const SchedulerConfig& c : configs) {
    const YAML::Node& cfg = c.node;
    const std::string api = Str(Child(cfg, "apiVersion"));
    EXPECT_TRUE(api == "kubescheduler.config.k8s.io/v1" ||
                api == "kubescheduler.config.k8s.io/v1beta1")
        << c.where << ": apiVersion \"" << api << "\"";
    EXPECT_EQ(Str(Child(cfg, "kind")), "KubeSchedulerConfiguration") << c.where;
    ExpectOnlyKeys(cfg, TopLevelKeys(api), c.where);
    if (api == "kubescheduler.config.k8s.io/v1beta1") {
      for (const char* k : {"healthzBindAddress", "metricsBindAddress"}) {
        const std::string a = Str(Child(cfg, k));
        EXPECT_TRUE(a.empty() || a.rfind("127.0.0.1:", 0) == 0)
            << c.where << ": " << k << " \"" << a << "\" should be a loopback address";
      }
    }

    const YAML::Node le = Child(cfg, "leaderElection");
    ExpectOnlyKeys(le, kLeaderElectionKeys, c.where + " leaderElection");
    EXPECT_TRUE(IsTrue(Child(le, "leaderElect"))) << c.where << ": leaderElection.leaderElect";
    EXPECT_EQ(Str(Child(le, "resourceNamespace")), "gpusched-system") << c.where;
    EXPECT_EQ(Str(Child(le, "resourceName")), "gpusched-scheduler") << c.where;
    EXPECT_EQ(Str(Child(cfg, "percentageOfNodesToScore")), "100") << c.where;

    const std::vector<YAML::Node> profiles = Items(Child(cfg, "profiles"));
    ASSERT_FALSE(profiles.empty()) << c.where << ": no profiles";
    std::set<std::string> profile_keys = {"schedulerName", "plugins", "pluginConfig"};
    if (api == "kubescheduler.config.k8s.io/v1") profile_keys.insert("percentageOfNodesToScore");
    for (const YAML::Node& p : profiles) {
      ExpectOnlyKeys(p, profile_keys, c.where + " profile");
      EXPECT_EQ(Str(Child(p, "schedulerName")), "gpusched") << c.where << ": profile name";
      EXPECT_FALSE(Child(p, "extenders").IsDefined())
          << c.where << ": extenders is top-level, not per profile";
    }

    const std::vector<YAML::Node> extenders = Items(Child(cfg, "extenders"));
    ASSERT_EQ(extenders.size(), 1u) << c.where << ": expected exactly one extender";
    int binders = 0;
    std::set<std::string> managed;
    for (size_t i = 0; i < extenders.size(); ++i) {
      const YAML::Node& e = extenders[i];
      const std::string at = c.where + " extenders[" + std::to_string(i) + "]";
      ExpectOnlyKeys(e, kExtenderKeys, at);
      ExpectOnlyKeys(Child(e, "tlsConfig"), kTlsKeys, at + ".tlsConfig");
      const std::string url = Str(Child(e, "urlPrefix"));
      EXPECT_TRUE(url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0)
          << at << ": urlPrefix \"" << url << "\" needs a scheme";
      EXPECT_EQ(url.rfind("https://", 0) == 0, IsTrue(Child(e, "enableHTTPS")))
          << at << ": enableHTTPS must match the urlPrefix scheme";
      if (!Str(Child(e, "prioritizeVerb")).empty()) {
        long long weight = 0;
        try {
          weight = Child(e, "weight").as<long long>();
        } catch (const YAML::Exception&) {
        }
        EXPECT_GT(weight, 0) << at << ": weight must be > 0 with a prioritizeVerb";
        EXPECT_EQ(weight, 100) << at << ": deploy/README.md explains weight 100";
      }
      if (!Str(Child(e, "bindVerb")).empty()) ++binders;
      EXPECT_TRUE(IsTrue(Child(e, "nodeCacheCapable"))) << at << ": nodeCacheCapable: true";
      EXPECT_FALSE(IsTrue(Child(e, "ignorable"))) << at << ": must not be ignorable";
      const std::string timeout = Str(Child(e, "httpTimeout"));
      EXPECT_TRUE(IsGoDuration(timeout)) << at << ": httpTimeout \"" << timeout
                                         << "\" is not a duration";
      for (const YAML::Node& r : Items(Child(e, "managedResources"))) {
        ExpectOnlyKeys(r, kManagedResourceKeys, at + ".managedResources");
        const std::string name = Str(Child(r, "name"));
        EXPECT_NE(name.find('/'), std::string::npos)
            << at << ": managed resource \"" << name << "\" is not an extended resource name";
        EXPECT_TRUE(managed.insert(name).second)
            << at << ": managed resource \"" << name << "\" listed twice";
      }
    }
    EXPECT_LE(binders, 1) << c.where << ": at most one extender may bind";
    EXPECT_EQ(binders, 1) << c.where << ": the extender binds (writes the device assignment)";
  }
}

TEST_F(DeployManifestsTest, ExtenderConfigUsesKnownKeys) {
  const std::vector<SchedulerConfig> configs = ConfigMapEntries("extender.yaml");
  ASSERT_FALSE(configs.empty()) << "no ConfigMap carries extender.yaml";
  const std::set<std::string> known = {"listen",         "tls",         "profile",
                                       "kubernetes",     "logLevel",    "logJson",
                                       "bodyLimitBytes", "maxModelAge", "requestTimeout",
                                       "agents"};
  for (const SchedulerConfig& c : configs) {
    ASSERT_TRUE(c.node.IsMap()) << c.where << ": not a mapping";
    ExpectOnlyKeys(c.node, known, c.where);
    ExpectOnlyKeys(Child(c.node, "tls"), {"certFile", "keyFile"}, c.where + " tls");
    EXPECT_TRUE(PortOf(Str(Child(c.node, "listen"))).has_value())
        << c.where << ": listen \"" << Str(Child(c.node, "listen")) << "\" is not HOST:PORT";
    EXPECT_FALSE(Str(Child(c.node, "profile")).empty()) << c.where << ": profile";
    const std::string age = Str(Child(c.node, "maxModelAge"));
    EXPECT_TRUE(age.empty() || IsGoDuration(age)) << c.where << ": maxModelAge \"" << age << "\"";
  }
}

TEST_F(DeployManifestsTest, RbacGrantsBindingAndPatchWithoutWildcards) {
  bool binding = false;
  bool patch_pods = false;
  bool leases = false;
  for (const Doc& d : docs()) {
    const std::string kind = Str(Child(d.node, "kind"));
    if (kind != "ClusterRole" && kind != "Role") continue;
    for (const YAML::Node& rule : Items(Child(d.node, "rules"))) {
      const auto groups = Strings(Child(rule, "apiGroups"));
      const auto resources = Strings(Child(rule, "resources"));
      const auto verbs = Strings(Child(rule, "verbs"));
      for (const auto* list : {&groups, &resources, &verbs}) {
        EXPECT_EQ(std::count(list->begin(), list->end(), "*"), 0)
            << Where(d) << ": wildcard \"*\" in a rule";
      }
      auto has = [](const std::vector<std::string>& v, const char* x) {
        return std::find(v.begin(), v.end(), x) != v.end();
      };
      const bool core = has(groups, "");
      if (core && has(resources, "pods/binding") && has(verbs, "create")) binding = true;
      if (core && has(resources, "pods") && has(verbs, "patch")) patch_pods = true;
      if (has(groups, "coordination.k8s.io") && has(resources, "leases")) leases = true;
    }
  }
  EXPECT_TRUE(binding) << "deploy/: no Role/ClusterRole grants create on pods/binding";
  EXPECT_TRUE(patch_pods) << "deploy/: no Role/ClusterRole grants patch on pods";
  EXPECT_TRUE(leases) << "deploy/: no Role grants the leader-election Lease";

  // Every binding names a ServiceAccount that exists, and the Deployment runs as it.
  std::set<std::string> accounts;
  for (const Doc* d : OfKind("ServiceAccount")) {
    accounts.insert(Str(Path(d->node, {"metadata", "namespace"})) + "/" +
                    Str(Path(d->node, {"metadata", "name"})));
  }
  for (const char* kind : {"ClusterRoleBinding", "RoleBinding"}) {
    for (const Doc* d : OfKind(kind)) {
      for (const YAML::Node& s : Items(Child(d->node, "subjects"))) {
        if (Str(Child(s, "kind")) != "ServiceAccount") continue;
        const std::string sa = Str(Child(s, "namespace")) + "/" + Str(Child(s, "name"));
        EXPECT_TRUE(accounts.count(sa)) << Where(*d) << ": subject " << sa << " is not defined";
      }
    }
  }
  for (const Doc* d : OfKind("Deployment")) {
    const std::string sa = Str(Path(d->node, {"metadata", "namespace"})) + "/" +
                           Str(Path(d->node, {"spec", "template", "spec", "serviceAccountName"}));
    EXPECT_TRUE(accounts.count(sa)) << Where(*d) << ": serviceAccountName " << sa << " undefined";
  }
}

TEST_F(DeployManifestsTest, DeploymentServesTheUrlPrefixPortAndMountsTheConfigs) {
  const std::optional<SchedulerConfig> cfg = BaseSchedulerConfig();
  ASSERT_TRUE(cfg.has_value()) << "deploy/base: no ConfigMap with scheduler-config.yaml";
  const std::string url = Str(Path(Items(Child(cfg->node, "extenders")).at(0), {"urlPrefix"}));
  const std::optional<int> url_port = PortOf(url);
  ASSERT_TRUE(url_port.has_value()) << cfg->where << ": urlPrefix \"" << url << "\" has no port";

  std::map<std::string, std::set<std::string>> config_map_keys;  // name -> data keys
  for (const Doc* d : OfKind("ConfigMap")) {
    for (const std::string& k : Keys(Path(d->node, {"data"}))) {
      config_map_keys[Str(Path(d->node, {"metadata", "name"}))].insert(k);
    }
  }
  const std::vector<const Doc*> deployments = OfKind("Deployment");
  ASSERT_EQ(deployments.size(), 1u);
  const Doc& dep = *deployments[0];
  const YAML::Node spec = Path(dep.node, {"spec", "template", "spec"});
  EXPECT_EQ(Str(Path(dep.node, {"spec", "replicas"})), "2") << Where(dep) << ": replicas";

  std::map<std::string, std::string> volume_to_config_map;
  for (const YAML::Node& v : Items(Child(spec, "volumes"))) {
    const std::string cm = Str(Path(v, {"configMap", "name"}));
    if (!cm.empty()) volume_to_config_map[Str(Child(v, "name"))] = cm;
  }
  bool found_extender = false;
  for (const YAML::Node& c : Items(Child(spec, "containers"))) {
    const std::string name = Str(Child(c, "name"));
    const std::string at = Where(dep) + " container " + name;
    EXPECT_EQ(Str(Path(c, {"securityContext", "readOnlyRootFilesystem"})), "true") << at;
    EXPECT_EQ(Strings(Path(c, {"securityContext", "capabilities", "drop"})),
              std::vector<std::string>{"ALL"})
        << at << ": drop ALL capabilities";
    // Every --config=PATH must be a key of a ConfigMap mounted at PATH's directory.
    std::vector<std::string> argv = Strings(Child(c, "command"));
    for (const std::string& a : Strings(Child(c, "args"))) argv.push_back(a);
    for (const std::string& a : argv) {
      if (a.rfind("--config=", 0) != 0) continue;
      const fs::path path = a.substr(9);
      bool mounted = false;
      for (const YAML::Node& m : Items(Child(c, "volumeMounts"))) {
        if (Str(Child(m, "mountPath")) != path.parent_path().string()) continue;
        const std::string cm = volume_to_config_map[Str(Child(m, "name"))];
        mounted = config_map_keys[cm].count(path.filename().string()) > 0;
      }
      EXPECT_TRUE(mounted) << at << ": " << a << " is not a key of a mounted ConfigMap";
    }
    if (name != "extender") continue;
    found_extender = true;
    EXPECT_EQ(Str(Path(c, {"securityContext", "runAsNonRoot"})), "true") << at;
    bool port_ok = false;
    for (const YAML::Node& p : Items(Child(c, "ports"))) {
      if (Str(Child(p, "name")) == "http-metrics") {
        port_ok = Str(Child(p, "containerPort")) == std::to_string(*url_port);
      }
    }
    EXPECT_TRUE(port_ok) << at << ": port http-metrics must be the urlPrefix port " << *url_port;
    EXPECT_EQ(Str(Path(c, {"readinessProbe", "httpGet", "path"})), "/readyz") << at;
    EXPECT_EQ(Str(Path(c, {"livenessProbe", "httpGet", "path"})), "/healthz") << at;
  }
  EXPECT_TRUE(found_extender) << Where(dep) << ": no container named extender";

  for (const SchedulerConfig& e : ConfigMapEntries("extender.yaml")) {
    EXPECT_EQ(PortOf(Str(Child(e.node, "listen"))), url_port)
        << e.where << ": listen port must be the urlPrefix port";
  }
}

// The agent DaemonSet runs on GPU nodes only, where the extender looks for it, serves the device
// plugin from the kubelet's directory, and asks for no more privilege than that needs.
TEST_F(DeployManifestsTest, AgentDaemonSetMatchesTheExtendersDiscoveryAndStaysUnprivileged) {
  const std::vector<const Doc*> sets = OfKind("DaemonSet");
  ASSERT_EQ(sets.size(), 1u);
  const Doc& ds = *sets[0];
  const std::string at = Where(ds);
  const YAML::Node spec = Path(ds.node, {"spec", "template", "spec"});

  const std::vector<SchedulerConfig> configs = ConfigMapEntries("extender.yaml");
  ASSERT_FALSE(configs.empty());
  const YAML::Node discover = Path(configs[0].node, {"agents", "discover"});
  ASSERT_TRUE(discover.IsDefined()) << configs[0].where << ": agents.discover";
  EXPECT_EQ(Str(Path(ds.node, {"metadata", "namespace"})), Str(Child(discover, "namespace"))) << at;
  const YAML::Node pod_labels = Path(ds.node, {"spec", "template", "metadata", "labels"});
  for (const std::string& k : Keys(Child(discover, "labels"))) {
    EXPECT_EQ(Str(Child(pod_labels, k.c_str())), Str(Child(Child(discover, "labels"), k.c_str())))
        << at << ": the extender finds agent Pods by label " << k;
  }
  // GPU nodes only.
  const YAML::Node terms = Path(spec, {"affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution",
                                       "nodeSelectorTerms"});
  ASSERT_TRUE(terms.IsSequence()) << at << ": no required node affinity";
  bool gfd = false;
  for (const YAML::Node& t : Items(terms)) {
    for (const YAML::Node& e : Items(Child(t, "matchExpressions"))) {
      if (Str(Child(e, "key")) == "nvidia.com/gpu.present") gfd = true;
    }
  }
  EXPECT_TRUE(gfd) << at << ": must select GFD's nvidia.com/gpu.present nodes";

  const std::vector<YAML::Node> containers = Items(Child(spec, "containers"));
  ASSERT_EQ(containers.size(), 1u);
  const YAML::Node& c = containers[0];
  std::map<std::string, std::string> args;
  for (const YAML::Node& a : Items(Child(c, "args"))) {
    const std::string s = Str(a);
    const size_t eq = s.find('=');
    args[s.substr(0, eq)] = eq == std::string::npos ? "" : s.substr(eq + 1);
  }
  EXPECT_EQ(PortOf(args["--listen"]), std::optional<int>(std::stoi(Str(Child(discover, "port"))))) << at;
  EXPECT_EQ(args["--device-plugin-dir"], "/var/lib/kubelet/device-plugins") << at;
  std::set<std::string> mounts;
  for (const YAML::Node& m : Items(Child(c, "volumeMounts"))) mounts.insert(Str(Child(m, "mountPath")));
  EXPECT_TRUE(mounts.count("/var/lib/kubelet/device-plugins")) << at;
  EXPECT_TRUE(mounts.count(args["--pod-resources-socket"].substr(0, args["--pod-resources-socket"].rfind('/'))))
      << at << ": the PodResources socket's folder is mounted";
  const YAML::Node sc = Child(c, "securityContext");
  EXPECT_FALSE(IsTrue(Child(sc, "privileged"))) << at;
  EXPECT_EQ(Str(Child(sc, "allowPrivilegeEscalation")), "false") << at;
  EXPECT_EQ(Str(Child(sc, "readOnlyRootFilesystem")), "true") << at;
  EXPECT_EQ(Str(Path(sc, {"capabilities", "drop"})[0]), "ALL") << at;
  EXPECT_EQ(Str(Child(spec, "automountServiceAccountToken")), "false") << at << ": the agent needs no API token";
  EXPECT_FALSE(IsTrue(Child(spec, "hostNetwork"))) << at;
}

TEST_F(DeployManifestsTest, PodGroupCrdMatchesSchedulerPlugins) {
  const Doc* crd = nullptr;
  for (const Doc* d : OfKind("CustomResourceDefinition")) {
    if (Str(Path(d->node, {"metadata", "name"})) == "podgroups.scheduling.x-k8s.io") crd = d;
  }
  ASSERT_NE(crd, nullptr) << "deploy/: no CRD podgroups.scheduling.x-k8s.io";
  const std::string at = Where(*crd);
  EXPECT_EQ(Str(Path(crd->node, {"spec", "group"})), "scheduling.x-k8s.io") << at;
  EXPECT_EQ(Str(Path(crd->node, {"spec", "scope"})), "Namespaced") << at;
  EXPECT_EQ(Str(Path(crd->node, {"spec", "names", "kind"})), "PodGroup") << at;
  EXPECT_EQ(Str(Path(crd->node, {"spec", "names", "plural"})), "podgroups") << at;
  EXPECT_EQ(Strings(Path(crd->node, {"spec", "names", "shortNames"})),
            (std::vector<std::string>{"pg", "pgs"}))
      << at;
  const std::vector<YAML::Node> versions = Items(Path(crd->node, {"spec", "versions"}));
  ASSERT_EQ(versions.size(), 1u) << at;
  EXPECT_EQ(Str(Child(versions[0], "name")), "v1alpha1") << at;
  EXPECT_TRUE(Path(versions[0], {"subresources", "status"}).IsDefined()) << at << ": status";
  const YAML::Node props = Path(versions[0], {"schema", "openAPIV3Schema", "properties"});
  const YAML::Node min_member = Path(props, {"spec", "properties", "minMember"});
  EXPECT_EQ(Str(Child(min_member, "type")), "integer") << at << ": minMember";
  EXPECT_EQ(Str(Child(min_member, "format")), "int32") << at << ": minMember";
  EXPECT_EQ(Str(Child(min_member, "minimum")), "1") << at << ": minMember";
  for (const char* f : {"phase", "occupiedBy", "running", "succeeded", "failed",
                        "scheduleStartTime"}) {
    EXPECT_TRUE(Path(props, {"status", "properties", f}).IsDefined()) << at << ": status." << f;
  }
}

TEST_F(DeployManifestsTest, ExamplesUseTheGpuschedSchedulerAndManagedResources) {
  const std::optional<SchedulerConfig> cfg = BaseSchedulerConfig();
  ASSERT_TRUE(cfg.has_value());
  const std::string scheduler = Str(Child(Items(Child(cfg->node, "profiles")).at(0), "schedulerName"));
  std::set<std::string> managed;
  for (const YAML::Node& r :
       Items(Child(Items(Child(cfg->node, "extenders")).at(0), "managedResources"))) {
    managed.insert(Str(Child(r, "name")));
  }
  std::set<std::string> pod_groups;
  for (const Doc& d : docs()) {
    if (d.file.rfind("deploy/examples/", 0) == 0 && Str(Child(d.node, "kind")) == "PodGroup") {
      pod_groups.insert(Str(Path(d.node, {"metadata", "name"})));
      EXPECT_GE(Path(d.node, {"spec", "minMember"}).as<int>(0), 1) << Where(d) << ": minMember";
    }
  }
  int pods = 0;
  for (const Doc& d : docs()) {
    if (d.file.rfind("deploy/examples/", 0) != 0) continue;
    for (const YAML::Node& spec : PodSpecs(d.node)) {
      ++pods;
      EXPECT_EQ(Str(Child(spec, "schedulerName")), scheduler)
          << Where(d) << ": schedulerName must be the profile's \"" << scheduler << "\"";
      bool gpu = false;
      for (const YAML::Node& c : Items(Child(spec, "containers"))) {
        for (const char* section : {"limits", "requests"}) {
          for (const std::string& r : Keys(Path(c, {"resources", section}))) {
            if (r.find('/') == std::string::npos) continue;  // cpu, memory, ...
            gpu = true;
            EXPECT_TRUE(managed.count(r))
                << Where(d) << ": resource \"" << r << "\" is not a managedResource, so "
                << "kube-scheduler would not send the pod to the extender";
          }
        }
      }
      EXPECT_TRUE(gpu) << Where(d) << ": an example without a GPU resource";
      const std::string group = Str(Child(PodLabels(d.node), "scheduling.x-k8s.io/pod-group"));
      if (!group.empty()) {
        EXPECT_TRUE(pod_groups.count(group)) << Where(d) << ": PodGroup " << group << " undefined";
      }
    }
  }
  EXPECT_GE(pods, 3) << "deploy/examples: expected the whole-GPU, share and gang examples";
}

TEST(DeployManifestsHelpers, GoDurationsAndPorts) {
  EXPECT_TRUE(IsGoDuration("30s"));
  EXPECT_TRUE(IsGoDuration("1m30s"));
  EXPECT_TRUE(IsGoDuration("0"));
  EXPECT_TRUE(IsGoDuration("1.5h"));
  EXPECT_FALSE(IsGoDuration("30"));
  EXPECT_FALSE(IsGoDuration("30 s"));
  EXPECT_FALSE(IsGoDuration(""));
  EXPECT_EQ(PortOf("http://127.0.0.1:8888"), 8888);
  EXPECT_EQ(PortOf("https://x.svc:443/prefix"), 443);
  EXPECT_EQ(PortOf("0.0.0.0:8888"), 8888);
  EXPECT_EQ(PortOf("[::1]:9"), 9);
  EXPECT_EQ(PortOf("http://host"), std::nullopt);
}

}  // namespace
}  // namespace gpusched

// deploy/monitoring/grafana-dashboard.json against the metrics the services really export.
//
// The real gpusched-extender (ExtenderApp) and two fake-mode gpusched-agents (AgentApp) run
// in-process against the fake API server. The test plays kube-scheduler for a little traffic, so
// that the labelled series the dashboard reads exist: filter, prioritize and bind on an agent's
// node, a bad request, a gang, a Node object that does not decode, watches closed by the API
// server, an agent stopped until it goes stale. It then scrapes the extender's /metrics and the
// agent's /metrics and checks every query of the dashboard (panels, the panels nested in collapsed
// rows, template variables):
//   - every metric it selects is exported (a classic histogram only as _bucket, _sum, _count);
//   - every label it matches on, groups by or shows in a legend is a label of those metrics, or
//     one Prometheus adds at scrape time (job, instance, and what deploy/monitoring relabels);
// and that the JSON has what Grafana needs to import it. With promtool installed, every
// expression must also parse as PromQL.
//
// The metric names come from a small PromQL scanner, not a parser: in PromQL an identifier that
// is not followed by "(" (a function), not an aggregation, keyword or modifier, and not inside a
// label matcher, a grouping list or a range is a metric name. That is all the check needs, and a
// scanner that gets it wrong fails loudly (the negative tests below keep it honest).

#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/app.h"
#include "common/http/http.h"
#include "extender/app.h"
#include "extender/config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "test/fakes/fake_apiserver.h"
#include "test/fakes/k8s_objects.h"

#ifndef GPUSCHED_DASHBOARD_SOURCE_DIR
#error "GPUSCHED_DASHBOARD_SOURCE_DIR (the repository root) must be defined; see test/CMakeLists.txt"
#endif

namespace gpusched::extender {
namespace {

using Json = nlohmann::json;
using ::gpusched::testing::GpuNodeJson;
using ::gpusched::testing::GpuPodJson;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr std::string_view kDashboardPath = "deploy/monitoring/grafana-dashboard.json";
// Every panel and target reads from this template variable, so the dashboard imports into any
// Grafana whatever its Prometheus data source is called.
constexpr char kDatasourceVariable[] = "${datasource}";

// Labels a series gets from Prometheus at scrape time rather than from the service: job and
// instance always; namespace, pod and container from deploy/monitoring/prometheus-scrape.yaml's
// relabelling (the PodMonitor adds the same, and endpoint).
const std::set<std::string>& TargetLabels() {
  static const auto* labels =
      new std::set<std::string>{"job", "instance", "namespace", "pod", "container", "endpoint"};
  return *labels;
}

std::filesystem::path DashboardFile() {
  return std::filesystem::path(GPUSCHED_DASHBOARD_SOURCE_DIR) / kDashboardPath;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// ---------------------------------------------------------------------------------------------
// PromQL scanner.

struct Selector {
  std::string metric;               // "" for a bare {...} without an exact __name__
  std::vector<std::string> labels;  // the label names its matchers use
};

struct Scan {
  std::vector<Selector> selectors;
  std::set<std::string> grouping;  // labels in by/without/on/ignoring/group_left/group_right
  std::vector<std::string> problems;
};

bool IsIdentStart(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':';
}
bool IsIdentChar(char c) { return IsIdentStart(c) || std::isdigit(static_cast<unsigned char>(c)); }

// Identifiers that are never metric names when they are not followed by "(": aggregation
// operators (which may be followed by by/without first), set and comparison operators and
// modifiers. PromQL reads them case-insensitively. Functions need no list: a function name is
// always followed by "(", a metric name never is.
bool IsKeyword(std::string_view lower) {
  static const auto* k = new std::set<std::string, std::less<>>{
      "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
      "bottomk", "topk", "quantile", "limitk", "limit_ratio", "and", "or", "unless", "bool",
      "offset", "atan2", "inf", "nan"};
  return k->contains(lower);
}
bool IsGroupingKeyword(std::string_view lower) {
  static const auto* k = new std::set<std::string, std::less<>>{
      "by", "without", "on", "ignoring", "group_left", "group_right"};
  return k->contains(lower);
}

class PromQlScanner {
 public:
  explicit PromQlScanner(std::string_view expr) : s_(expr) {}

  Scan Run() {
    while (i_ < s_.size()) {
      const char c = s_[i_];
      if (std::isspace(static_cast<unsigned char>(c))) {
        ++i_;
      } else if (c == '"' || c == '\'' || c == '`') {
        (void)StringLiteral();
      } else if (c == '#') {  // a comment, to the end of the line
        while (i_ < s_.size() && s_[i_] != '\n') ++i_;
      } else if (c == '$') {
        GrafanaVariable();
      } else if (c == '[') {  // a range or subquery: durations and Grafana interval macros
        SkipPast('[', ']');
      } else if (c == '{') {
        Selector sel;
        Matchers(sel);
        if (sel.metric.empty()) {
          Problem("a selector without a metric name ({...} alone) matches every metric; name one");
        } else {
          out_.selectors.push_back(std::move(sel));
        }
      } else if (std::isdigit(static_cast<unsigned char>(c)) ||
                 (c == '.' && i_ + 1 < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_ + 1])))) {
        // A number or a duration (0.99, 1e3, 5m, 0x1f).
        while (i_ < s_.size() && (IsIdentChar(s_[i_]) || s_[i_] == '.')) ++i_;
      } else if (IsIdentStart(c)) {
        Identifier();
      } else {
        ++i_;  // operators, parentheses, commas
      }
    }
    return std::move(out_);
  }

 private:
  void Problem(std::string what) { out_.problems.push_back(std::move(what)); }

  void SkipSpace() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }

  std::string Ident() {
    const size_t start = i_;
    while (i_ < s_.size() && IsIdentChar(s_[i_])) ++i_;
    return std::string(s_.substr(start, i_ - start));
  }

  // At a quote: its contents (escapes kept as written), the cursor after the closing quote.
  std::string StringLiteral() {
    const char quote = s_[i_++];
    const size_t start = i_;
    while (i_ < s_.size() && s_[i_] != quote) {
      if (s_[i_] == '\\' && quote != '`') ++i_;
      ++i_;
    }
    if (i_ >= s_.size()) {
      Problem(absl::StrCat("unterminated string starting at offset ", start - 1));
      return std::string(s_.substr(start));
    }
    return std::string(s_.substr(start, i_++ - start));
  }

  // $var, ${var}, ${var:format}, $__rate_interval: a value Grafana fills in, never a metric.
  void GrafanaVariable() {
    ++i_;
    if (i_ < s_.size() && s_[i_] == '{') {
      SkipPast('{', '}');
    } else {
      while (i_ < s_.size() && IsIdentChar(s_[i_])) ++i_;
    }
  }

  void SkipPast(char open, char close) {
    const size_t start = i_;
    int depth = 0;
    while (i_ < s_.size()) {
      const char c = s_[i_];
      if (c == '"' || c == '\'' || c == '`') {
        (void)StringLiteral();
        continue;
      }
      ++i_;
      if (c == open) ++depth;
      if (c == close && --depth == 0) return;
    }
    Problem(absl::StrCat("unbalanced '", std::string(1, open), "' at offset ", start));
  }

  void Identifier() {
    const std::string id = Ident();
    const std::string lower = Lower(id);
    SkipSpace();
    const char next = i_ < s_.size() ? s_[i_] : '\0';
    if (IsGroupingKeyword(lower)) {
      if (next == '(') LabelList();
      return;
    }
    if (IsKeyword(lower) || next == '(') return;  // an operator, modifier or function
    Selector sel{.metric = id, .labels = {}};
    if (next == '{') Matchers(sel);
    out_.selectors.push_back(std::move(sel));
  }

  // At "(" after by/without/on/ignoring/group_left/group_right: the label names up to ")".
  void LabelList() {
    ++i_;
    for (;;) {
      SkipSpace();
      if (i_ >= s_.size()) {
        Problem("unterminated label list");
        return;
      }
      const char c = s_[i_];
      if (c == ')') {
        ++i_;
        return;
      }
      if (c == ',') {
        ++i_;
      } else if (IsIdentStart(c)) {
        out_.grouping.insert(Ident());
      } else if (c == '"') {  // PromQL 3's quoted label names
        out_.grouping.insert(StringLiteral());
      } else {
        Problem(absl::StrCat("unexpected '", std::string(1, c), "' in a label list"));
        SkipTo(')');
        return;
      }
    }
  }

  void SkipTo(char c) {
    while (i_ < s_.size() && s_[i_++] != c) {
    }
  }

  // At "{": the label matchers (label op "value", ...) up to "}". An exact __name__ matcher
  // names the metric.
  void Matchers(Selector& sel) {
    ++i_;
    for (;;) {
      SkipSpace();
      if (i_ >= s_.size()) {
        Problem("unterminated label matchers");
        return;
      }
      const char c = s_[i_];
      if (c == '}') {
        ++i_;
        return;
      }
      if (c == ',') {
        ++i_;
        continue;
      }
      if (c == '"') {  // PromQL 3: {"metric.name", ...}
        NameMatcher(sel, "=", StringLiteral());
        continue;
      }
      if (!IsIdentStart(c)) {
        Problem(absl::StrCat("unexpected '", std::string(1, c), "' in label matchers"));
        SkipTo('}');
        return;
      }
      const std::string label = Ident();
      SkipSpace();
      const size_t op_start = i_;
      while (i_ < s_.size() && (s_[i_] == '=' || s_[i_] == '!' || s_[i_] == '~')) ++i_;
      const std::string op(s_.substr(op_start, i_ - op_start));
      if (op != "=" && op != "!=" && op != "=~" && op != "!~") {
        Problem(absl::StrCat("label ", label, ": \"", op, "\" is not a matcher operator"));
        SkipTo('}');
        return;
      }
      SkipSpace();
      if (i_ >= s_.size() || (s_[i_] != '"' && s_[i_] != '\'' && s_[i_] != '`')) {
        Problem(absl::StrCat("label ", label, ": the value must be a quoted string"));
        SkipTo('}');
        return;
      }
      const std::string value = StringLiteral();
      if (label == "__name__") {
        NameMatcher(sel, op, value);
      } else {
        sel.labels.push_back(label);
      }
    }
  }

  void NameMatcher(Selector& sel, std::string_view op, const std::string& value) {
    if (op != "=") {
      Problem(absl::StrCat("__name__", std::string(op), "\"", value,
                           "\": a regular expression over metric names cannot be checked; name the "
                           "metrics"));
    } else if (!sel.metric.empty() && sel.metric != value) {
      Problem(absl::StrCat("the selector names two metrics: ", sel.metric, " and ", value));
    } else {
      sel.metric = value;
    }
  }

  std::string_view s_;
  size_t i_ = 0;
  Scan out_;
};

Scan ScanPromQl(std::string_view expr) { return PromQlScanner(expr).Run(); }

// Grafana's Prometheus variable queries: label_values(SELECTOR, LABEL), label_values(LABEL),
// query_result(EXPR); label_names() and metrics(REGEX) name no metric to check.
struct VariableQuery {
  std::string promql;  // the selector or expression it runs
  std::string label;   // label_values' label
  std::string problem;
};

std::string Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

VariableQuery ParseVariableQuery(std::string_view query) {
  const std::string q = Trim(query);
  auto call = [&](std::string_view fn) -> std::optional<std::string> {
    if (q.rfind(absl::StrCat(std::string(fn), "("), 0) != 0 || q.back() != ')') return std::nullopt;
    return q.substr(fn.size() + 1, q.size() - fn.size() - 2);
  };
  VariableQuery out;
  if (std::optional<std::string> args = call("label_values")) {
    // The label follows the last comma outside braces, brackets, parentheses and strings.
    size_t comma = std::string::npos;
    int depth = 0;
    char quote = 0;
    for (size_t i = 0; i < args->size(); ++i) {
      const char c = (*args)[i];
      if (quote != 0) {
        if (c == '\\') ++i;
        else if (c == quote) quote = 0;
      } else if (c == '"' || c == '\'' || c == '`') {
        quote = c;
      } else if (c == '(' || c == '{' || c == '[') {
        ++depth;
      } else if (c == ')' || c == '}' || c == ']') {
        --depth;
      } else if (c == ',' && depth == 0) {
        comma = i;
      }
    }
    if (comma == std::string::npos) {
      out.label = Trim(*args);
      out.problem = "label_values(LABEL) without a metric reads every series in Prometheus; name "
                    "the metric: label_values(METRIC, LABEL)";
    } else {
      out.promql = Trim(std::string_view(*args).substr(0, comma));
      out.label = Trim(std::string_view(*args).substr(comma + 1));
    }
  } else if (std::optional<std::string> expr = call("query_result")) {
    out.promql = *expr;
  } else if (!call("label_names") && !call("metrics")) {
    out.problem = absl::StrCat("not a Grafana Prometheus variable query: ", q);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// What the services export, from the Prometheus text format.

struct Exported {
  std::map<std::string, std::string, std::less<>> family_type;  // "# TYPE" lines
  // Sample name (x, x_total, x_bucket, ...) -> the label names seen on its samples.
  std::map<std::string, std::set<std::string>, std::less<>> series_labels;
};

void AddExposition(std::string_view text, Exported& e) {
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream words(line.substr(7));
      std::string name, type;
      words >> name >> type;
      e.family_type[name] = type;
      continue;
    }
    if (line.empty() || line[0] == '#') continue;
    size_t i = 0;
    while (i < line.size() && IsIdentChar(line[i])) ++i;
    std::set<std::string>& labels = e.series_labels[line.substr(0, i)];
    if (i >= line.size() || line[i] != '{') continue;
    ++i;
    while (i < line.size() && line[i] != '}') {
      const size_t start = i;
      while (i < line.size() && line[i] != '=') ++i;
      labels.insert(line.substr(start, i - start));
      i += 2;  // ="
      while (i < line.size() && line[i] != '"') i += line[i] == '\\' ? 2 : 1;
      ++i;  // closing quote
      if (i < line.size() && line[i] == ',') ++i;
    }
  }
}

// "" when the services export series called `name`; else why not.
std::string WhyNotExported(const Exported& e, std::string_view name) {
  if (auto t = e.family_type.find(name); t != e.family_type.end() && t->second == "histogram") {
    const std::string n(name);
    return absl::StrCat("is a histogram family: its series are ", n, "_bucket, ", n, "_sum and ", n,
                        "_count (select one of those)");
  }
  if (e.series_labels.contains(name)) return "";
  if (e.family_type.contains(name)) return "is registered but has no series in the scrape";
  return "is not exported by gpusched-extender or gpusched-agent";
}

std::set<std::string> LegendLabels(std::string_view legend) {
  static const std::regex kLabel(R"(\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\})");
  std::set<std::string> out;
  const std::string s(legend);
  for (auto it = std::sregex_iterator(s.begin(), s.end(), kLabel); it != std::sregex_iterator(); ++it) {
    out.insert((*it)[1].str());
  }
  return out;
}

// One query of the dashboard, and where it is.
struct Query {
  std::string where;   // panel 13 "Latency p50 by verb", target A
  std::string expr;    // PromQL
  std::string legend;  // legendFormat
  std::string label;   // label_values' label (template variables)
};

// Every way `q` reads something the services do not export, one message each, naming the
// panel and the expression.
std::vector<std::string> CheckQuery(const Query& q, const Exported& e) {
  std::vector<std::string> problems;
  auto complain = [&](const std::string& what) {
    problems.push_back(absl::StrCat(q.where, ": ", what, "\n      expr: ", q.expr));
  };
  const Scan scan = ScanPromQl(q.expr);
  for (const std::string& p : scan.problems) complain(p);
  if (scan.selectors.empty() && scan.problems.empty()) {
    complain("selects no metric, so nothing ties it to what the services export");
  }
  std::set<std::string> available = TargetLabels();  // labels the result can carry
  bool all_known = true;
  for (const Selector& sel : scan.selectors) {
    if (const std::string why = WhyNotExported(e, sel.metric); !why.empty()) {
      complain(absl::StrCat("metric ", sel.metric, " ", why));
      all_known = false;
      continue;
    }
    const std::set<std::string>& has = e.series_labels.find(sel.metric)->second;
    available.insert(has.begin(), has.end());
    for (const std::string& l : sel.labels) {
      if (!has.contains(l) && !TargetLabels().contains(l)) {
        complain(absl::StrCat("matches on label \"", l, "\", which ", sel.metric,
                              " does not have (it has: ", absl::StrJoin(has, ", "), ")"));
      }
    }
  }
  if (!all_known) return problems;  // the label checks below would only repeat it
  const std::string known = absl::StrJoin(available, ", ");
  for (const std::string& l : scan.grouping) {
    if (!available.contains(l)) {
      complain(absl::StrCat("groups or matches by label \"", l,
                            "\", which none of its metrics has (they have: ", known, ")"));
    }
  }
  for (const std::string& l : LegendLabels(q.legend)) {
    if (!available.contains(l)) {
      complain(absl::StrCat("legend \"", q.legend, "\" shows label \"", l,
                            "\", which none of its metrics has (they have: ", known, ")"));
    }
  }
  if (!q.label.empty() && !available.contains(q.label)) {
    complain(absl::StrCat("label_values reads label \"", q.label,
                          "\", which its metric does not have (it has: ", known, ")"));
  }
  if (q.expr.find("histogram_quantile") != std::string::npos) {
    const bool buckets = std::any_of(scan.selectors.begin(), scan.selectors.end(), [](const Selector& s) {
      return s.metric.ends_with("_bucket");
    });
    if (!buckets) complain("histogram_quantile over no _bucket series");
    if (!scan.grouping.empty() && !scan.grouping.contains("le")) {
      complain("histogram_quantile over buckets aggregated without \"le\" (by (..., le))");
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// The dashboard: its panels (rows' nested panels too) and queries.

void CollectPanels(const Json& list, std::vector<const Json*>& out) {
  if (!list.is_array()) return;
  for (const Json& p : list) {
    out.push_back(&p);
    if (p.is_object() && p.contains("panels")) CollectPanels(p["panels"], out);
  }
}

std::vector<const Json*> AllPanels(const Json& dashboard) {
  std::vector<const Json*> out;
  if (dashboard.contains("panels")) CollectPanels(dashboard["panels"], out);
  return out;
}

std::string Describe(const Json& panel) {
  return absl::StrCat("panel ", panel.value("id", Json(nullptr)).dump(), " \"",
                      panel.value("title", std::string()), "\"");
}

// Every query: the targets of every panel, and the template variables'. `problems` gets what
// could not be read as a query.
std::vector<Query> QueriesOf(const Json& dashboard, std::vector<std::string>& problems) {
  std::vector<Query> out;
  for (const Json* p : AllPanels(dashboard)) {
    if (!p->is_object() || !p->contains("targets")) continue;
    for (const Json& t : (*p)["targets"]) {
      const std::string where = absl::StrCat(Describe(*p), ", target ", t.value("refId", std::string("?")));
      if (!t.contains("expr") || !t["expr"].is_string() || t["expr"].get<std::string>().empty()) {
        problems.push_back(absl::StrCat(where, ": no expr"));
        continue;
      }
      out.push_back(Query{.where = where,
                          .expr = t["expr"].get<std::string>(),
                          .legend = t.value("legendFormat", std::string())});
    }
  }
  if (!dashboard.contains("templating") || !dashboard["templating"].contains("list")) return out;
  for (const Json& v : dashboard["templating"]["list"]) {
    if (v.value("type", std::string()) != "query") continue;
    const std::string where = absl::StrCat("template variable $", v.value("name", std::string("?")));
    // The query is a string (Grafana 9) or {"query": ..., "qryType": ..., "refId": ...} (10+).
    const Json query = v.contains("query") ? v["query"] : Json();
    std::string text;
    if (query.is_string()) {
      text = query.get<std::string>();
    } else if (query.is_object() && query.contains("query") && query["query"].is_string()) {
      text = query["query"].get<std::string>();
    }
    VariableQuery vq = ParseVariableQuery(text);
    if (!vq.problem.empty()) {
      problems.push_back(absl::StrCat(where, ": ", vq.problem));
      continue;
    }
    if (vq.promql.empty()) continue;  // label_names(), metrics(...)
    out.push_back(Query{.where = where, .expr = vq.promql, .label = vq.label});
  }
  return out;
}

// A datasource reference ({"type": "prometheus", "uid": "${datasource}"}, or the older bare
// string) that names the template variable.
bool UsesDatasourceVariable(const Json& ds) {
  const Json& uid = ds.is_object() && ds.contains("uid") ? ds["uid"] : ds;
  if (!uid.is_string()) return false;
  const std::string s = uid.get<std::string>();
  return s == kDatasourceVariable || s == "$datasource";
}

// What Grafana needs to import the dashboard and lay it out, and what makes it usable: every
// panel has a unique id, a place on the 24-column grid that no other panel takes, a title and a
// description for the operator, and reads from the ${datasource} variable.
std::vector<std::string> StructureProblems(const Json& d) {
  std::vector<std::string> problems;
  auto complain = [&](std::string what) { problems.push_back(std::move(what)); };
  if (!d.is_object()) return {"the dashboard is not a JSON object"};
  if (!d.contains("title") || !d["title"].is_string() || d["title"].get<std::string>().empty()) {
    complain("no title");
  }
  if (!d.contains("uid") || !d["uid"].is_string()) {
    complain("no uid (Grafana links and provisioning key on it)");
  } else {
    const std::string uid = d["uid"];
    if (uid.empty() || uid.size() > 40 ||
        !std::all_of(uid.begin(), uid.end(), [](char c) { return IsIdentChar(c) || c == '-'; })) {
      complain(absl::StrCat("uid \"", uid, "\": 1 to 40 characters of [A-Za-z0-9_-]"));
    }
  }
  if (!d.contains("schemaVersion") || !d["schemaVersion"].is_number_integer() ||
      d["schemaVersion"].get<int>() < 36) {
    complain("schemaVersion must be an integer >= 36 (Grafana 9+: datasource references by uid)");
  }
  if (!d.contains("panels") || !d["panels"].is_array() || d["panels"].empty()) complain("no panels");

  // The datasource variable.
  bool datasource_variable = false;
  if (d.contains("templating") && d["templating"].contains("list") && d["templating"]["list"].is_array()) {
    for (const Json& v : d["templating"]["list"]) {
      // value() throws on a type mismatch, and a query variable's "query" is an object.
      auto text = [&](const char* k) {
        return v.contains(k) && v[k].is_string() ? v[k].get<std::string>() : std::string();
      };
      if (text("name") == "datasource" && text("type") == "datasource" && text("query") == "prometheus") {
        datasource_variable = true;
      }
      if (text("type") == "query" && (!v.contains("datasource") || !UsesDatasourceVariable(v["datasource"]))) {
        complain(absl::StrCat("template variable $", text("name"), ": its datasource must be ",
                              kDatasourceVariable));
      }
    }
  }
  if (!datasource_variable) {
    complain("no template variable \"datasource\" of type datasource with query \"prometheus\"");
  }

  // Panels.
  std::set<int64_t> ids;
  for (const Json* p : AllPanels(d)) {
    if (!p->is_object()) {
      complain("a panel that is not a JSON object");
      continue;
    }
    const std::string who = Describe(*p);
    if (!p->contains("id") || !(*p)["id"].is_number_integer()) {
      complain(absl::StrCat(who, ": no integer id"));
    } else if (!ids.insert((*p)["id"].get<int64_t>()).second) {
      complain(absl::StrCat(who, ": id used twice"));
    }
    const Json& g = p->value("gridPos", Json());
    auto grid = [&](const char* k) { return g.is_object() && g.contains(k) && g[k].is_number_integer() ? g[k].get<int>() : -1; };
    if (grid("h") <= 0 || grid("w") <= 0 || grid("x") < 0 || grid("y") < 0 || grid("x") + grid("w") > 24) {
      complain(absl::StrCat(who, ": gridPos needs integers h > 0, w > 0, x >= 0, y >= 0, x + w <= 24; has ", g.dump()));
    }
    const std::string type = p->value("type", std::string());
    if (!p->contains("title") || !(*p)["title"].is_string() || (*p)["title"].get<std::string>().empty()) {
      complain(absl::StrCat(who, ": no title"));
    }
    if (type == "row") {
      if (!p->contains("panels") || !(*p)["panels"].is_array()) {
        complain(absl::StrCat(who, ": a row needs a panels list (empty when expanded)"));
      } else if (!p->value("collapsed", false) && !(*p)["panels"].empty()) {
        complain(absl::StrCat(who, ": an expanded row's panels belong at the top level, after it"));
      }
      continue;
    }
    static const std::set<std::string> kTypes = {"timeseries", "stat", "heatmap", "gauge", "bargauge",
                                                 "table", "piechart", "state-timeline"};
    if (!kTypes.contains(type)) complain(absl::StrCat(who, ": unexpected panel type \"", type, "\""));
    if (!p->contains("description") || !(*p)["description"].is_string() ||
        (*p)["description"].get<std::string>().size() < 20) {
      complain(absl::StrCat(who, ": needs a description that tells an operator what it shows"));
    }
    if (!p->contains("datasource") || !UsesDatasourceVariable((*p)["datasource"])) {
      complain(absl::StrCat(who, ": its datasource must be ", kDatasourceVariable));
    }
    if (!p->contains("targets") || !(*p)["targets"].is_array() || (*p)["targets"].empty()) {
      complain(absl::StrCat(who, ": no targets"));
      continue;
    }
    std::set<std::string> refs;
    for (const Json& t : (*p)["targets"]) {
      const std::string ref = t.value("refId", std::string());
      if (ref.empty() || !refs.insert(ref).second) {
        complain(absl::StrCat(who, ": every target needs its own refId (has \"", ref, "\")"));
      }
      if (t.contains("datasource") && !UsesDatasourceVariable(t["datasource"])) {
        complain(absl::StrCat(who, ", target ", ref, ": its datasource must be ", kDatasourceVariable));
      }
    }
  }

  // No two panels on the same grid cells: the top level, and inside each collapsed row (laid
  // out below the row when it is expanded).
  auto overlaps = [&](const Json& list, const std::string& where) {
    std::vector<const Json*> ps;
    for (const Json& p : list) {
      if (p.is_object() && p.contains("gridPos") && p["gridPos"].is_object()) ps.push_back(&p);
    }
    for (size_t i = 0; i < ps.size(); ++i) {
      for (size_t j = i + 1; j < ps.size(); ++j) {
        const Json& a = (*ps[i])["gridPos"];
        const Json& b = (*ps[j])["gridPos"];
        const int ax = a.value("x", 0), ay = a.value("y", 0), aw = a.value("w", 0), ah = a.value("h", 0);
        const int bx = b.value("x", 0), by = b.value("y", 0), bw = b.value("w", 0), bh = b.value("h", 0);
        if (ax < bx + bw && bx < ax + aw && ay < by + bh && by < ay + ah) {
          complain(absl::StrCat(where, ": ", Describe(*ps[i]), " and ", Describe(*ps[j]), " overlap"));
        }
      }
    }
  };
  if (d.contains("panels") && d["panels"].is_array()) {
    overlaps(d["panels"], "top level");
    for (const Json& p : d["panels"]) {
      if (p.is_object() && p.value("type", std::string()) == "row" && p.contains("panels") &&
          p["panels"].is_array()) {
        overlaps(p["panels"], absl::StrCat("inside ", Describe(p)));
      }
    }
  }
  return problems;
}

absl::StatusOr<Json> LoadDashboard() {
  const std::filesystem::path path = DashboardFile();
  if (!std::filesystem::exists(path)) {
    return absl::NotFoundError(absl::StrCat(path.string(), " does not exist"));
  }
  Json d = Json::parse(ReadFile(path), nullptr, /*allow_exceptions=*/false);
  if (d.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(path.string(), " is not valid JSON"));
  return d;
}

std::string Lines(const std::vector<std::string>& v) { return absl::StrCat("\n  ", absl::StrJoin(v, "\n  ")); }

// ---------------------------------------------------------------------------------------------
// The checker itself: it must find what it is for (else the test below proves nothing).

TEST(PromQlScanTest, FindsMetricsAndLabelsAndSkipsEverythingElse) {
  const Scan s = ScanPromQl(
      "sum by (verb, le) (rate(a_bucket{verb=~\"f.*\", code!=\"}\"}[$__rate_interval] offset 1h))"
      " / on (verb) group_left(pool) b * 2 > bool 0.5"
      " and ignoring(x) max without (y) (c @ start()) unless count(d{__name__=\"d\"}) or vector(0)"
      " or {__name__=\"f\", pool=~\"${pool:regex}\"} # a comment naming g\n"
      " + label_replace(h, \"dst\", \"$1\", \"src\", \"(.*)\") + sum(i) by (z) + 1e-3 + Inf");
  std::vector<std::string> metrics;
  for (const Selector& sel : s.selectors) metrics.push_back(sel.metric);
  EXPECT_THAT(metrics, ::testing::ElementsAre("a_bucket", "b", "c", "d", "f", "h", "i"));
  EXPECT_THAT(s.selectors[0].labels, ::testing::ElementsAre("verb", "code"));
  EXPECT_THAT(s.selectors[4].labels, ::testing::ElementsAre("pool"));
  EXPECT_THAT(s.grouping, ::testing::ElementsAre("le", "pool", "verb", "x", "y", "z"));
  EXPECT_THAT(s.problems, IsEmpty());

  EXPECT_THAT(ScanPromQl("{__name__=~\"gpusched_.*\"}").problems, ::testing::Not(IsEmpty()));
  EXPECT_THAT(ScanPromQl("sum(rate({job=\"x\"}[5m]))").problems, ::testing::Not(IsEmpty()));
  EXPECT_THAT(ScanPromQl("a{b=\"c}").problems, ::testing::Not(IsEmpty()));

  VariableQuery v = ParseVariableQuery(" label_values(gpusched_gpus{pool!=\"a,b\"}, pool) ");
  EXPECT_EQ(v.promql, "gpusched_gpus{pool!=\"a,b\"}");
  EXPECT_EQ(v.label, "pool");
  EXPECT_EQ(v.problem, "");
  EXPECT_NE(ParseVariableQuery("label_values(pool)").problem, "");
  EXPECT_EQ(ParseVariableQuery("query_result(topk(3, x))").promql, "topk(3, x)");
  EXPECT_NE(ParseVariableQuery("select 1").problem, "");
}

TEST(DashboardCheckerTest, ReportsMetricsAndLabelsTheServicesDoNotExport) {
  Exported e;
  AddExposition(R"(# HELP gpusched_gpus Healthy GPUs.
# TYPE gpusched_gpus gauge
gpusched_gpus{pool="NVIDIA-A100-SXM4-80GB"} 8
# TYPE gpusched_extender_request_duration_seconds histogram
gpusched_extender_request_duration_seconds_bucket{verb="filter",le="0.001"} 1
gpusched_extender_request_duration_seconds_bucket{verb="filter",le="+Inf"} 1
gpusched_extender_request_duration_seconds_sum{verb="filter"} 0.0001
gpusched_extender_request_duration_seconds_count{verb="filter"} 1
)", e);

  // A fabricated dashboard: the unknown metric hides in a collapsed row.
  const Json dashboard = Json::parse(R"json({"panels": [
      {"id": 1, "type": "row", "title": "Row", "collapsed": true, "panels": [
        {"id": 2, "type": "timeseries", "title": "Made up",
         "targets": [{"refId": "A", "expr": "sum(rate(gpusched_made_up_total[5m]))"}]}]}]})json");
  std::vector<std::string> unreadable;
  const std::vector<Query> queries = QueriesOf(dashboard, unreadable);
  EXPECT_THAT(unreadable, IsEmpty());
  ASSERT_EQ(queries.size(), 1u);
  const std::vector<std::string> found = CheckQuery(queries[0], e);
  ASSERT_EQ(found.size(), 1u) << Lines(found);
  EXPECT_THAT(found[0], HasSubstr("panel 2 \"Made up\", target A"));
  EXPECT_THAT(found[0], HasSubstr("metric gpusched_made_up_total is not exported"));
  EXPECT_THAT(found[0], HasSubstr("expr: sum(rate(gpusched_made_up_total[5m]))"));

  // Each of these mistakes must be reported, naming what is wrong.
  const struct {
    std::string expr, legend, want;
  } wrong[] = {
      {"histogram_quantile(0.99, sum by (le) (rate(gpusched_extender_request_duration_seconds[5m])))", "",
       "is a histogram family"},
      {"gpusched_gpus{pools=~\"$pool\"}", "", "label \"pools\""},
      {"sum by (verb) (gpusched_gpus)", "", "label \"verb\""},
      {"max by (pool) (gpusched_gpus)", "{{model}}", "label \"model\""},
      {"histogram_quantile(0.9, sum by (verb) (rate(gpusched_extender_request_duration_seconds_bucket[5m])))",
       "", "without \"le\""},
      {"{__name__=~\"gpusched_.*\"}", "", "regular expression over metric names"},
      {"vector(1)", "", "selects no metric"},
      {"gpusched_gpus_total", "", "gpusched_gpus_total is not exported"},
  };
  for (const auto& w : wrong) {
    const std::vector<std::string> p = CheckQuery(Query{.where = "fixture", .expr = w.expr, .legend = w.legend}, e);
    EXPECT_THAT(absl::StrJoin(p, "\n"), HasSubstr(w.want)) << w.expr;
  }
  // And these are right.
  const struct {
    std::string expr, legend;
  } right[] = {
      {"max by (pool) (gpusched_gpus{pool=~\"$pool\"})", "{{pool}}"},
      {"histogram_quantile(0.99, sum by (verb, le) "
       "(rate(gpusched_extender_request_duration_seconds_bucket[$__rate_interval])))", "{{verb}}"},
      {"sum by (instance) (rate(gpusched_extender_request_duration_seconds_count{job=\"x\"}[5m]))", "{{instance}}"},
  };
  for (const auto& r : right) {
    EXPECT_THAT(CheckQuery(Query{.where = "fixture", .expr = r.expr, .legend = r.legend}, e), IsEmpty());
  }
  // A template variable reading a label its metric lacks.
  const Json vars = Json::parse(R"json({"templating": {"list": [
      {"name": "pool", "type": "query", "query": {"query": "label_values(gpusched_gpus, model)"}}]}})json");
  const std::vector<Query> vq = QueriesOf(vars, unreadable);
  ASSERT_EQ(vq.size(), 1u);
  EXPECT_THAT(absl::StrJoin(CheckQuery(vq[0], e), "\n"), HasSubstr("template variable $pool: label_values reads label \"model\""));
}

TEST(DashboardCheckerTest, ReportsWhatGrafanaCannotImportOrLayOut) {
  // Two panels with one id on the same cells, one without a description reading a fixed data
  // source, an expanded row holding a panel, and no datasource variable.
  const Json d = Json::parse(R"json({"title": "t", "uid": "u", "schemaVersion": 39, "panels": [
      {"id": 1, "type": "row", "title": "Row", "collapsed": false, "gridPos": {"h": 1, "w": 24, "x": 0, "y": 0},
       "panels": [{"id": 9, "type": "stat", "title": "Inside", "gridPos": {"h": 4, "w": 6, "x": 0, "y": 1}}]},
      {"id": 2, "type": "timeseries", "title": "A", "description": "What A shows an operator, at length.",
       "datasource": {"type": "prometheus", "uid": "${datasource}"}, "gridPos": {"h": 8, "w": 12, "x": 0, "y": 1},
       "targets": [{"refId": "A", "expr": "up"}]},
      {"id": 2, "type": "timeseries", "title": "B", "datasource": {"type": "prometheus", "uid": "prom-1"},
       "gridPos": {"h": 8, "w": 14, "x": 6, "y": 1}, "targets": [{"refId": "A", "expr": "up"}]}],
    "templating": {"list": []}})json");
  const std::string problems = absl::StrJoin(StructureProblems(d), "\n");
  EXPECT_THAT(problems, HasSubstr("no template variable \"datasource\""));
  EXPECT_THAT(problems, HasSubstr("panel 2 \"B\": id used twice"));
  EXPECT_THAT(problems, HasSubstr("panel 2 \"B\": needs a description"));
  EXPECT_THAT(problems, HasSubstr("panel 2 \"B\": its datasource must be ${datasource}"));
  EXPECT_THAT(problems, HasSubstr("panel 2 \"A\" and panel 2 \"B\" overlap"));
  EXPECT_THAT(problems, HasSubstr("an expanded row's panels belong at the top level"));
}

// ---------------------------------------------------------------------------------------------
// The dashboard file.

TEST(DashboardJsonTest, HasTheStructureGrafanaImports) {
  absl::StatusOr<Json> d = LoadDashboard();
  ASSERT_TRUE(d.ok()) << d.status();
  const std::vector<std::string> problems = StructureProblems(*d);
  EXPECT_TRUE(problems.empty()) << DashboardFile().string() << ":" << Lines(problems);
  std::vector<std::string> unreadable;
  const std::vector<Query> queries = QueriesOf(*d, unreadable);
  EXPECT_TRUE(unreadable.empty()) << Lines(unreadable);
  EXPECT_GE(queries.size(), 40u) << "the dashboard lost most of its queries";
  // The checker sees panels inside collapsed rows too.
  int nested = 0;
  for (const Json& p : (*d)["panels"]) {
    if (p.value("type", std::string()) == "row") nested += static_cast<int>(p["panels"].size());
  }
  EXPECT_GT(nested, 0) << "expected the detail rows (telemetry, framework internals) to be collapsed";
}

// Grafana fills the variables in before Prometheus sees the query; promtool gets typical values.
std::string Substitute(std::string expr) {
  expr = std::regex_replace(expr, std::regex(R"(\$__(rate_interval|interval|range))"), "5m");
  expr = std::regex_replace(expr, std::regex(R"(\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*)"), ".*");
  return expr;
}

TEST(DashboardJsonTest, EveryExpressionParsesAsPromQl) {
  if (access("/usr/bin/promtool", X_OK) != 0) GTEST_SKIP() << "promtool not installed (Debian package prometheus)";
  absl::StatusOr<Json> d = LoadDashboard();
  ASSERT_TRUE(d.ok()) << d.status();
  std::vector<std::string> unreadable;
  const std::vector<Query> queries = QueriesOf(*d, unreadable);
  ASSERT_FALSE(queries.empty());
  // Each expression as a recording rule: promtool parses them all and names the bad one by index.
  std::string rules = "groups:\n  - name: dashboard\n    rules:\n";
  std::string index;
  for (size_t i = 0; i < queries.size(); ++i) {
    // Numbered from 1, as promtool counts rules.
    absl::StrAppend(&rules, "      - record: dashboard_query_", i + 1, "\n        expr: |-\n          ",
                    Substitute(queries[i].expr), "\n");
    absl::StrAppend(&index, "\n  rule ", i + 1, ": ", queries[i].where, ": ", queries[i].expr);
  }
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    absl::StrCat("gpusched-dashboard-", getpid(), "-", absl::ToUnixNanos(absl::Now()));
  std::filesystem::create_directories(dir);
  const std::string file = (dir / "rules.yml").string();
  const std::string out = (dir / "promtool.out").string();
  std::ofstream(file) << rules;
  const int rc = std::system(absl::StrCat("/usr/bin/promtool check rules ", file, " > ", out, " 2>&1").c_str());
  const std::string said = ReadFile(out);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  EXPECT_EQ(rc, 0) << "promtool:\n" << said << "\nthe rules, in order:" << index;
}

// ---------------------------------------------------------------------------------------------
// The dashboard against the running services.

class DashboardMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(api_.Start().ok());
    // n1 and n2 have node agents (8 A100s, 2 A10s); n3 has none (its GPUs come from the Node).
    api_.Apply(FakeApiServer::kNodes, GpuNodeJson("n1", 8, "NVIDIA-A100-SXM4-80GB", 81920));
    api_.Apply(FakeApiServer::kNodes, GpuNodeJson("n2", 2, "NVIDIA-A10", 23028));
    api_.Apply(FakeApiServer::kNodes, GpuNodeJson("n3", 4, "NVIDIA-L4", 23034));
    agents_.push_back(StartAgent("n1", "dgx-a100", /*serve_metrics=*/true));
    agents_.push_back(StartAgent("n2", "pcie-2gpu-a10", /*serve_metrics=*/false));
    ASSERT_NE(agents_[0], nullptr);
    ASSERT_NE(agents_[1], nullptr);

    ExtenderConfig config;
    config.host = "127.0.0.1";
    config.port = 0;
    config.profile = "binpack";
    config.seed = 7;
    config.log_level = "error";
    config.agents.enabled = true;
    config.agents.static_agents = {{"n1", absl::StrCat("127.0.0.1:", agents_[0]->grpc_port())},
                                   {"n2", absl::StrCat("127.0.0.1:", agents_[1]->grpc_port())}};
    config.agents.stale_after = absl::Milliseconds(600);
    http::ClientOptions to_api{.base_url = api_.base_url()};
    auto app = ExtenderApp::Start(config, &to_api);
    ASSERT_TRUE(app.ok()) << app.status();
    app_ = std::move(*app);
    extender_ = Client(app_->port());
    agent_metrics_ = Client(agents_[0]->metrics_port());
    ASSERT_NE(extender_, nullptr);
    ASSERT_NE(agent_metrics_, nullptr);
  }

  void TearDown() override {
    if (app_) app_->Stop();
    for (auto& a : agents_) {
      if (a) a->Stop();
    }
  }

  static std::unique_ptr<agent::AgentApp> StartAgent(const std::string& node, const std::string& preset,
                                                     bool serve_metrics) {
    agent::AgentConfig c;
    c.node_name = node;
    c.fake_preset = preset;
    c.fake_load = {0.3};  // other tenants: non-zero utilization, headroom below 1
    c.listen = "127.0.0.1:0";
    c.metrics_listen = serve_metrics ? "127.0.0.1:0" : "";
    c.heartbeat = absl::Milliseconds(100);
    c.log_level = "error";
    auto a = agent::AgentApp::Start(c);
    EXPECT_TRUE(a.ok()) << node << ": " << a.status();
    return a.ok() ? std::move(*a) : nullptr;
  }

  static std::unique_ptr<http::Client> Client(int port) {
    auto c = http::Client::Create(http::ClientOptions{.base_url = absl::StrCat("http://127.0.0.1:", port)});
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::move(*c) : nullptr;
  }

  template <class F>
  void WaitFor(F ready, std::string_view what) {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (!ready()) {
      ASSERT_LT(absl::Now(), deadline) << "timed out waiting for " << what;
      absl::SleepFor(absl::Milliseconds(20));
    }
  }

  http::Response Do(http::Client& c, const std::string& method, const std::string& path,
                    const std::string& body = "") {
    auto r = c.Do(method, path, body);
    return r.ok() ? *r : http::Response{.status = 0, .body = std::string(r.status().message())};
  }

  Json Args(const std::string& pod, std::vector<std::string> nodes) {
    std::optional<Json> p = api_.Get(FakeApiServer::kPods, "ml", pod);
    EXPECT_TRUE(p.has_value()) << pod;
    return {{"Pod", p.value_or(Json::object())}, {"Nodes", nullptr}, {"NodeNames", nodes}};
  }

  // The nodes /filter lets the pod onto.
  std::vector<std::string> Feasible(const std::string& pod) {
    const http::Response r = Do(*extender_, "POST", "/filter", Args(pod, {"n1", "n2", "n3"}).dump());
    if (r.status != 200) return {};
    const Json f = Json::parse(r.body);
    return f["NodeNames"].is_array() ? f["NodeNames"].get<std::vector<std::string>>() : std::vector<std::string>{};
  }

  // The dashboard's problems against one scrape of both services; `exported` gets the scrape.
  std::vector<std::string> Check(const std::vector<Query>& queries, Exported& exported) {
    exported = Exported();
    AddExposition(Do(*extender_, "GET", "/metrics").body, exported);
    AddExposition(Do(*agent_metrics_, "GET", "/metrics").body, exported);
    std::vector<std::string> problems;
    for (const Query& q : queries) {
      for (std::string& p : CheckQuery(q, exported)) problems.push_back(std::move(p));
    }
    return problems;
  }

  FakeApiServer api_;
  std::vector<std::unique_ptr<agent::AgentApp>> agents_;
  std::unique_ptr<ExtenderApp> app_;
  std::unique_ptr<http::Client> extender_, agent_metrics_;
};

TEST_F(DashboardMetricsTest, EveryQueryNamesWhatTheServicesExport) {
  absl::StatusOr<Json> dashboard = LoadDashboard();
  ASSERT_TRUE(dashboard.ok()) << dashboard.status();
  std::vector<std::string> unreadable;
  const std::vector<Query> queries = QueriesOf(*dashboard, unreadable);
  ASSERT_TRUE(unreadable.empty()) << Lines(unreadable);

  WaitFor([&] { return Do(*extender_, "GET", "/readyz").status == 200; }, "the extender to become ready");
  WaitFor([&] {
    return Do(*extender_, "GET", "/metrics").body.find("gpusched_agent_streams{state=\"fresh\"} 2") != std::string::npos;
  }, "both node agents' streams");

  // A whole-GPU pod that only n1's A100s fit: Filter rejects n2 and n3, Prioritize scores, Bind
  // hands the devices to n1's agent and posts the Binding.
  api_.Apply(FakeApiServer::kPods,
             GpuPodJson("whole", {{"nvidia.com/gpu", "2"}}, Json::object(),
                        {{"gpusched.io/gpu-model", "NVIDIA-A100-SXM4-80GB"}}));
  WaitFor([&] { return Feasible("whole") == std::vector<std::string>{"n1"}; }, "the pod in the model");
  EXPECT_EQ(Do(*extender_, "POST", "/prioritize", Args("whole", {"n1", "n3"}).dump()).status, 200);
  const std::optional<Json> whole = api_.Get(FakeApiServer::kPods, "ml", "whole");
  ASSERT_TRUE(whole.has_value());
  const Json bind = {{"PodName", "whole"}, {"PodNamespace", "ml"},
                     {"PodUID", (*whole)["metadata"]["uid"]}, {"Node", "n1"}};
  const http::Response b = Do(*extender_, "POST", "/bind", bind.dump());
  ASSERT_EQ(b.status, 200) << b.body;
  EXPECT_EQ(Json::parse(b.body)["Error"], "") << b.body;
  // A request kube-scheduler would never send: the 4xx series of the error-ratio panel.
  EXPECT_EQ(Do(*extender_, "POST", "/filter", "{bad").status, 400);

  // A gang of two: its first member's Filter plans slots for both.
  api_.Apply(FakeApiServer::kXK8sPodGroups,
             {{"apiVersion", "scheduling.x-k8s.io/v1alpha1"}, {"kind", "PodGroup"},
              {"metadata", {{"name", "pair"}, {"namespace", "ml"}}}, {"spec", {{"minMember", 2}}}});
  for (int i = 0; i < 2; ++i) {
    api_.Apply(FakeApiServer::kPods, GpuPodJson(absl::StrCat("gang-", i), {{"nvidia.com/gpu", "1"}},
                                                {{"scheduling.x-k8s.io/pod-group", "pair"}}));
  }
  WaitFor([&] { return Do(*extender_, "GET", "/metrics").body.find("podgroups") != std::string::npos; },
          "the PodGroup list");
  WaitFor([&] { return !Feasible("gang-0").empty(); }, "a plan for the gang");
  // Both members bind onto their planned slots: the plan has done its work, and how long it held
  // the capacity is observed (the gang-wait panel).
  for (int i = 0; i < 2; ++i) {
    const std::string name = absl::StrCat("gang-", i);
    const std::vector<std::string> planned = Feasible(name);
    ASSERT_FALSE(planned.empty()) << name;
    const std::optional<Json> member = api_.Get(FakeApiServer::kPods, "ml", name);
    ASSERT_TRUE(member.has_value());
    const Json args = {{"PodName", name}, {"PodNamespace", "ml"},
                       {"PodUID", (*member)["metadata"]["uid"]}, {"Node", planned.front()}};
    const http::Response r = Do(*extender_, "POST", "/bind", args.dump());
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(Json::parse(r.body)["Error"], "") << name << ": " << r.body;
  }

  // The informers' bad days: an object that does not decode, and every watch closed.
  api_.Apply(FakeApiServer::kNodes, {{"metadata", {{"name", "broken"}}}, {"spec", {{"unschedulable", "yes"}}}});
  api_.CloseWatches();
  // n2's agent dies: the extender marks it stale after 600 ms and fences the node.
  agents_[1]->Stop();
  agents_[1].reset();

  // Everything above shows up within a second or so; wait until the dashboard is satisfied, and
  // report what is still missing if it never is.
  Exported exported;
  std::vector<std::string> problems;
  const absl::Time start = absl::Now();
  while (!(problems = Check(queries, exported)).empty() && absl::Now() - start < absl::Seconds(10)) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  std::set<std::string> families;
  for (const auto& [name, type] : exported.family_type) families.insert(name);
  EXPECT_TRUE(problems.empty())
      << Lines(problems) << "\n\nThe services export these families:\n  " << absl::StrJoin(families, "\n  ");

  // Not a failure, but worth knowing when the services gain a metric: what no panel shows.
  std::set<std::string> used;
  for (const Query& q : queries) {
    for (const Selector& sel : ScanPromQl(q.expr).selectors) {
      std::string m = sel.metric;
      for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        if (m.ends_with(suffix) && exported.family_type.contains(m.substr(0, m.size() - strlen(suffix)))) {
          m.resize(m.size() - strlen(suffix));
        }
      }
      used.insert(m);
    }
  }
  std::vector<std::string> unused;
  for (const std::string& f : families) {
    if (!used.contains(f)) unused.push_back(f);
  }
  std::cout << "[ INFO     ] " << used.size() << " metric families on the dashboard, " << queries.size()
            << " queries; exported but on no panel: " << (unused.empty() ? "none" : absl::StrJoin(unused, ", "))
            << "\n";
}

}  // namespace
}  // namespace gpusched::extender

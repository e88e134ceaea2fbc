#include "cli/explain.h"

#include <map>
#include <memory>
#include <utility>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/http/http.h"

namespace gpusched::cli {
namespace {

constexpr char kCommand[] = "explain";

struct ExplainFlags {
  std::string pod;
  std::string extender = "http://127.0.0.1:8888";
  bool json = false;
};

int Explain(const ExplainFlags& f, std::ostream& out, std::ostream& err) {
  if (f.pod.find('/') == std::string::npos || f.pod.front() == '/' || f.pod.back() == '/') {
    return UsageError(err, kCommand, absl::StrCat("\"", f.pod, "\" is not NAMESPACE/POD"));
  }
  absl::StatusOr<std::unique_ptr<http::Client>> client =
      http::Client::Create(http::ClientOptions{.base_url = f.extender, .timeout = absl::Seconds(30)});
  if (!client.ok()) return Fail(err, kCommand, client.status());
  std::string escaped;
  for (char c : f.pod) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_') {
      escaped += c;
    } else {
      escaped += absl::StrCat("%", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
    }
  }
  absl::StatusOr<http::Response> r = (*client)->Do("GET", absl::StrCat("/explain?pod=", escaped));
  if (!r.ok()) {
    return Fail(err, kCommand,
                absl::UnavailableError(absl::StrCat("cannot reach the extender at ", f.extender,
                                                    ": ", r.status().message())));
  }
  const nlohmann::json answer = nlohmann::json::parse(r->body, nullptr, false);
  if (answer.is_discarded() || !answer.is_object()) {
    return Fail(err, kCommand, absl::InternalError(absl::StrCat(
                                   f.extender, "/explain answered ", r->status, " without JSON")));
  }
  if (r->status != 200 || answer.contains("Error")) {
    return Fail(err, kCommand, absl::NotFoundError(answer.value("Error", std::string("failed"))));
  }
  if (f.json) {
    out << answer.dump(2) << "\n";
  } else {
    PrintExplanation(answer, out);
  }
  return kExitOk;
}

}  // namespace

void PrintExplanation(const nlohmann::json& a, std::ostream& out) {
  const std::string pod = a.value("pod", std::string());
  if (!a.value("boundTo", std::string()).empty()) {
    out << pod << " is bound to " << a["boundTo"].get<std::string>() << ".\n";
    return;
  }
  const nlohmann::json nodes = a.value("nodes", nlohmann::json::array());
  std::vector<std::string> fits;
  std::map<std::pair<std::string, bool>, std::vector<std::string>> why;  // (reason, never) -> nodes
  for (const auto& n : nodes) {
    const std::string name = n.value("node", std::string());
    if (n.value("fits", false)) {
      fits.push_back(name);
    } else {
      why[{n.value("reason", std::string()), n.value("unresolvable", false)}].push_back(name);
    }
  }
  if (!fits.empty()) {
    out << pod << " fits now on " << fits.size() << " of " << nodes.size() << " nodes ("
        << absl::StrJoin(fits.begin(), fits.begin() + std::min<size_t>(fits.size(), 5), ", ")
        << (fits.size() > 5 ? ", ..." : "") << ").\n";
  } else {
    out << pod << " fits on none of the " << nodes.size() << " nodes now:\n";
  }
  for (const auto& [key, names] : why) {
    out << "  " << (key.second ? "never here: " : "not now:    ") << key.first << "  ("
        << (names.size() <= 4 ? absl::StrJoin(names, ", ")
                              : absl::StrCat(names.size(), " nodes: ", names[0], ", ", names[1], ", ..."))
        << ")\n";
  }
  if (!a.value("gang", std::string()).empty()) out << "  " << a["gang"].get<std::string>() << "\n";
  if (!a.value("gangPlan", std::string()).empty()) {
    out << "  gang plan: " << a["gangPlan"].get<std::string>() << "\n";
  }
  const nlohmann::json changes = a.value("changes", nlohmann::json::array());
  if (!changes.empty()) {
    out << "What would place it:\n";
    for (const auto& c : changes) {
      std::vector<std::string> on = c.value("fitsOn", std::vector<std::string>());
      out << "  - " << c.value("change", std::string());
      if (c.value("kind", std::string()) != "wait") out << "  (then on " << absl::StrJoin(on, ", ") << ")";
      out << "\n";
    }
  } else if (fits.empty()) {
    out << "No single change tried (fewer GPUs, a smaller share, another model, no topology "
           "requirement, no nodeSelector, pods leaving) makes it fit.\n";
  }
}

Runner AddExplainCommand(CLI::App& app) {
  auto f = std::make_shared<ExplainFlags>();
  app.description("Why is a GPU pod pending: asks a running gpusched-extender, per node and with "
                  "the nearest changes that would make it fit.");
  app.add_option("pod", f->pod, "NAMESPACE/POD")->required();
  app.add_option("--extender", f->extender, "the extender's URL")->capture_default_str();
  app.add_flag("--json", f->json, "print the extender's JSON answer");
  return [f](std::ostream& out, std::ostream& err) { return Explain(*f, out, err); };
}

int RunExplain(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  CLI::App app("", "gpusched explain");
  const Runner run = AddExplainCommand(app);
  return ParseThenRun(app, args, out, err, run);
}

}  // namespace gpusched::cli

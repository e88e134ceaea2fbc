#pragma once

// `gpusched explain NAMESPACE/POD`: "why is my GPU pod pending", asked of a running
// gpusched-extender (its GET /explain, extender/service.h): per node why not, and the nearest
// changes that would make the pod fit, each one checked by the scheduler's own Filter.
//
//   gpusched explain research/llama-0 [--extender http://127.0.0.1:8888] [--json]
//
// In a cluster: kubectl -n gpusched-system port-forward deploy/gpusched-scheduler 8888, then ask.
// Exit codes: cli/command.h (1 when the extender cannot be reached or does not know the pod).

#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/command.h"

namespace gpusched::cli {

Runner AddExplainCommand(CLI::App& app);
int RunExplain(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
// The extender's /explain answer for a person.
void PrintExplanation(const nlohmann::json& answer, std::ostream& out);

}  // namespace gpusched::cli

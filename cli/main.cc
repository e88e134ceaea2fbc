// gpusched: the command-line tool. Subcommands: demo, sim, jobs, topo, explain (gpusched --help).

#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "cli/command.h"
#include "cli/demo.h"
#include "cli/explain.h"
#include "cli/jobs.h"
#include "cli/sim.h"
#include "cli/topo.h"

int main(int argc, char** argv) {
  using namespace gpusched::cli;
  struct Command {
    const char* name;
    Runner (*add)(CLI::App&);
  };
  constexpr Command kCommands[] = {{"demo", AddDemoCommand},
                                   {"sim", AddSimCommand},
                                   {"jobs", AddJobsCommand},
                                   {"topo", AddTopoCommand},
                                   {"explain", AddExplainCommand}};
  CLI::App app("gpusched: GPU scheduling for Kubernetes: the demo, trace replays through the "
               "extender's plugins, topology tools, and why a pod is pending (explain).",
               "gpusched");
  app.require_subcommand(1);
  std::vector<std::pair<CLI::App*, Runner>> subcommands;
  for (const Command& c : kCommands) {
    CLI::App* sub = app.add_subcommand(c.name);
    subcommands.emplace_back(sub, c.add(*sub));
  }
  const Runner dispatch = [&](std::ostream& out, std::ostream& err) {
    for (const auto& [sub, run] : subcommands) {
      if (sub->parsed()) return run(out, err);
    }
    return kExitUsage;  // not reached: a subcommand is required
  };
  return ParseThenRun(app, std::vector<std::string>(argv + 1, argv + argc), std::cout, std::cerr,
                      dispatch);
}

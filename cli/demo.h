#pragma once

// `gpusched demo`: a small self-contained cluster scheduled through the real framework and
// plugins, printed as readable decisions. Every built-in profile runs (FGD from its generic
// prior, as the live extender starts). Exit codes: cli/command.h.
//
//   gpusched demo [--profile NAME] [--profiles FILE] [--seed N]

#include <ostream>
#include <string>
#include <vector>

#include "cli/command.h"

namespace gpusched::cli {

Runner AddDemoCommand(CLI::App& app);
// `args` are the arguments after "demo".
int RunDemo(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace gpusched::cli

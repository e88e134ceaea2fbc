#pragma once

// `gpusched demo`: a small self-contained cluster scheduled through the real framework and
// plugins, printed as readable decisions. Replaced by the simulator's demo once it lands.

#include <ostream>
#include <string>
#include <vector>

namespace gpusched::cli {

// Returns the process exit code. `args` are the arguments after "demo".
int RunDemo(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace gpusched::cli

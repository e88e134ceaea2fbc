// gpusched: the offline tool. Subcommands: demo, sim, jobs, topo.

#include <iostream>
#include <string>
#include <vector>

#include "cli/demo.h"
#include "cli/jobs.h"
#include "cli/sim.h"
#include "cli/topo.h"

namespace {

constexpr char kUsage[] =
    "usage: gpusched <command> [args]\n"
    "commands:\n"
    "  demo [--profile NAME] [--profiles FILE] [--seed N]\n"
    "      schedule a small built-in cluster through the plugin framework and print decisions\n"
    "  sim [--cluster NODES.csv --trace PODS.csv] [--policy ...] [--mode inflation|replay]\n"
    "      [--seeds 42-51] [--out DIR] [--json]\n"
    "      replay a trace (default: a built-in openb-like sample) through the GPU-sharing\n"
    "      policies and report unallocated GPUs and fragmentation (gpusched sim --help)\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::cout << kUsage;
    return argc < 2 ? 2 : 0;
  }
  const std::string cmd = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  if (cmd == "demo") return gpusched::cli::RunDemo(args, std::cout, std::cerr);
  if (cmd == "sim") return gpusched::cli::RunSim(args, std::cout, std::cerr);
  if (cmd == "jobs") return gpusched::cli::RunJobs(args, std::cout, std::cerr);
  if (cmd == "topo") return gpusched::cli::RunTopo(args, std::cout, std::cerr);
  std::cerr << "gpusched: unknown command \"" << cmd << "\"\n" << kUsage;
  return 2;
}

// The `heapline` command line: parses arguments with CLI11 and dispatches to one function per
// subcommand (see commands.h).
#include <CLI/CLI.hpp>

#include "commands.h"

int main(int argc, char** argv) {
  using namespace heapline::cli;
  CLI::App app{"heapline: a memory profiler for native Linux programs"};
  app.require_subcommand(1);

  RunOptions run;
  auto* run_cmd = app.add_subcommand("run", "Run a program under the recorder");
  run_cmd->add_option("-o,--output", run.output,
                      "Trace path; %p = pid, %e = executable name (default heapline.%e.%p.trace)");
  run_cmd->add_option("--depth", run.depth, "Maximum stack depth (default 64)")
      ->check(CLI::Range(1, 256));
  run_cmd->add_option("command", run.command, "PROG ARGS... (after --)")->required();
  run_cmd->prefix_command();

  DumpOptions dump;
  auto* dump_cmd = app.add_subcommand("dump", "Print every record of a trace");
  dump_cmd->add_option("trace", dump.trace, "Trace file")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (*run_cmd) return run_command(run);
  if (*dump_cmd) return dump_command(dump);
  return 2;
}

// The `heapline` command line: parses arguments with CLI11 and dispatches to one function per
// subcommand (see commands.h).
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "commands.h"

int main(int argc, char** argv) {
  using namespace heapline::cli;
  CLI::App app{"heapline: a memory profiler for native Linux programs"};
  app.require_subcommand(1);
  // Logs go to stderr: stdout carries reports (and JSON) only. Problems that matter to the
  // reader of a report are in its "notes" section, so the log is quiet unless asked.
  spdlog::set_default_logger(spdlog::stderr_color_mt("heapline"));
  spdlog::set_level(spdlog::level::err);
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "Log progress and warnings on stderr");
  app.parse_complete_callback([&] {
    if (verbose) spdlog::set_level(spdlog::level::info);
  });

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

  ReportOptions report;
  auto* report_cmd = app.add_subcommand("report", "Summary, peak and leaks of a trace");
  report_cmd->add_option("trace", report.trace, "Trace file")->required();
  report_cmd->add_flag("--json", report.json, "Machine-readable output (a stable contract)");
  report_cmd->add_option("--top", report.top, "Sites to list per table (default 10)");
  report_cmd->add_option("--skip", report.skip,
                         "Regex of frames (function or file) never taken as allocation site");

  LeaksOptions leaks;
  std::string fail_on_leak;
  auto* leaks_cmd = app.add_subcommand("leaks", "Every leak with its full stack");
  leaks_cmd->add_option("trace", leaks.trace, "Trace file")->required();
  leaks_cmd->add_flag("--json", leaks.json, "Machine-readable output");
  leaks_cmd->add_option("--skip", leaks.skip,
                        "Regex of frames (function or file) never taken as allocation site");
  auto* fail_opt = leaks_cmd->add_option("--fail-on-leak", fail_on_leak,
                                         "Exit 1 when more than BYTES leaked (default 0)")
                       ->expected(0, 1)
                       ->default_str("0");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (*run_cmd) return run_command(run);
  if (*dump_cmd) return dump_command(dump);
  if (*report_cmd) return report_command(report);
  if (*leaks_cmd) {
    if (*fail_opt) {
      try {
        leaks.fail_on_leak = fail_on_leak.empty() ? 0 : std::stoull(fail_on_leak);
      } catch (const std::exception&) {
        fprintf(stderr, "heapline leaks: --fail-on-leak wants a number of bytes\n");
        return 2;
      }
    }
    return leaks_command(leaks);
  }
  return 2;
}

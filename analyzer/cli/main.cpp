// The `heapline` command line: parses arguments with CLI11 and dispatches to one function per
// subcommand (see commands.h).
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "commands.h"

namespace {

// A report that could not be written (a full disk, a closed pipe) is an error, not a success
// with a short file. The final flush names the reason; a write that failed earlier (the buffer
// filled up on the way) left only stdio's error flag, and errno may be long gone by then.
int with_output_checked(int status) {
  errno = 0;
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    std::fprintf(stderr, "heapline: cannot write the output: %s\n",
                 errno ? std::strerror(errno) : "write error");
    return 2;
  }
  return status;
}

}  // namespace

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
  run_cmd->add_option("--sample-bytes", run.sample_bytes,
                      "Sampling mode: record allocations by a Poisson process with this mean "
                      "interval in bytes (no value: " + std::to_string(kDefaultSampleBytes) +
                          "); estimates are unbiased")
      ->expected(0, 1)
      ->default_str(std::to_string(kDefaultSampleBytes))
      ->transform(CLI::AsSizeValue(false));
  run_cmd->add_option("--unwind", run.unwind,
                      "Stack capture: dwarf (libunwind, any code; default) or fp (frame "
                      "pointers: much cheaper, only for code built with -fno-omit-frame-pointer)")
      ->check(CLI::IsMember({"dwarf", "fp"}));
  run_cmd->add_option("command", run.command, "PROG ARGS... (after --)")->required();
  run_cmd->prefix_command();

  DumpOptions dump;
  auto* dump_cmd = app.add_subcommand("dump", "Print every record of a trace");
  dump_cmd->add_option("trace", dump.trace, "Trace file")->required();

  ReportOptions report;
  auto* report_cmd = app.add_subcommand("report", "Summary, peak and leaks of a trace");
  report_cmd->add_option("trace", report.traces,
                         "Trace file; several, or a directory: one line per process of the tree")
      ->required();
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

  LinesOptions lines;
  auto* lines_cmd = app.add_subcommand("lines", "Per-line memory (memory_profiler style)");
  lines_cmd->add_option("trace", lines.trace, "Trace file")->required();
  auto* function_opt = lines_cmd->add_option("--function", lines.function,
                                             "List the source of this function with its figures");
  auto* file_opt = lines_cmd->add_option("--file", lines.file,
                                         "List this source file (path or path suffix)");
  auto* top_opt = lines_cmd->add_option("--top", lines.top,
                                        "The N heaviest lines (default 20): by live bytes at the "
                                        "peak, or by increment when --from/--to is given");
  function_opt->excludes(file_opt, top_opt);
  file_opt->excludes(top_opt);
  lines_cmd->add_option("--from", lines.from,
                        "Start of the increment's window: seconds, start, peak or end "
                        "(default start)");
  lines_cmd->add_option("--to", lines.to,
                        "End of the increment's window: seconds, start, peak or end (default end)");
  auto* self_opt = lines_cmd->add_flag("--self", lines.self,
                                       "Only the line that allocated (default for --top)");
  auto* inclusive_opt = lines_cmd->add_flag(
      "--inclusive", lines.inclusive,
      "The line or any function it called allocated (default for --function and --file)");
  self_opt->excludes(inclusive_opt);
  lines_cmd->add_flag("--json", lines.json, "Machine-readable output (both attributions)");
  lines_cmd->add_option("--skip", lines.skip,
                        "Regex of frames (function or file) never taken as allocation site");

  PlotOptions plot;
  auto* plot_cmd = app.add_subcommand("plot", "Heap and RSS over time as an SVG (mprof style)");
  plot_cmd->add_option("trace", plot.trace, "Trace file")->required();
  plot_cmd->add_option("-o,--output", plot.output, "The SVG to write")->required();
  plot_cmd->add_option("--top", plot.top, "Sites stacked under the heap curve (default 5)")
      ->check(CLI::Range(0, 10));
  plot_cmd->add_option("--csv", plot.csv, "Also write the time series as CSV");
  plot_cmd->add_option("--skip", plot.skip,
                       "Regex of frames (function or file) never taken as allocation site");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (*run_cmd) return run_command(run);
  if (*dump_cmd) return with_output_checked(dump_command(dump));
  if (*report_cmd) return with_output_checked(report_command(report));
  if (*lines_cmd) return with_output_checked(lines_command(lines));
  if (*plot_cmd) return with_output_checked(plot_command(plot));
  if (*leaks_cmd) {
    if (*fail_opt) {
      try {
        leaks.fail_on_leak = fail_on_leak.empty() ? 0 : std::stoull(fail_on_leak);
      } catch (const std::exception&) {
        fprintf(stderr, "heapline leaks: --fail-on-leak wants a number of bytes\n");
        return 2;
      }
    }
    return with_output_checked(leaks_command(leaks));
  }
  return 2;
}

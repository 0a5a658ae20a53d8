// The subcommands of the `heapline` CLI, one file each. main.cpp parses the command line (CLI11)
// into these option structs and calls the matching function, whose return value is the exit
// status: 0 success, 1 a finding the user asked to fail on (leaks), 2 bad input or usage.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace heapline::cli {

// `heapline run --sample-bytes` without a value. The interval trades cost for resolution: a
// sample costs the recorder ~1 us (stack, record, compression), so a program allocating G bytes
// a second pays G/N us per second (the churn benchmark, 6.8 GB/s: 1.3% at 512 KiB, 11% at 64 KiB),
// while a site of B bytes is estimated within sd <= sqrt(B N) (two sites differing by D are
// told apart at 3 sd when N <= D^2 / (9 (B1 + B2))). 512 KiB keeps malloc-bound code within
// the 1.10x target; sites a few percent apart need intervals near full tracing at any rate
// (docs/sampling.md has the measurements).
constexpr uint64_t kDefaultSampleBytes = 512 * 1024;

struct RunOptions {
  std::string output = "heapline.%e.%p.trace";
  uint32_t depth = 0;  // 0 = the recorder's default
  uint64_t sample_bytes = 0;  // 0 = record every allocation
  std::string unwind;         // "", "dwarf" or "fp"
  std::vector<std::string> command;
};
int run_command(const RunOptions& options);

struct DumpOptions {
  std::string trace;
  bool stacks = true;
};
int dump_command(const DumpOptions& options);

struct ReportOptions {
  std::vector<std::string> traces;  // one trace file; several, or directories: a process tree
  bool json = false;
  size_t top = 10;
  std::vector<std::string> skip;
};
int report_command(const ReportOptions& options);

struct LeaksOptions {
  std::string trace;
  bool json = false;
  std::optional<uint64_t> fail_on_leak;  // exit 1 when leaked bytes exceed this
  std::vector<std::string> skip;
};
int leaks_command(const LeaksOptions& options);

struct LinesOptions {
  std::string trace;
  std::string function;  // exactly one of function, file, top selects the listing
  std::string file;
  std::optional<size_t> top;
  std::string from = "start";  // seconds since start, "start", "peak" or "end"
  std::string to = "end";
  bool self = false;       // attribution; default inclusive for --function/--file, self for --top
  bool inclusive = false;
  bool json = false;
  std::vector<std::string> skip;
};
int lines_command(const LinesOptions& options);

struct PlotOptions {
  std::string trace;
  std::string output;  // the SVG
  size_t top = 5;      // sites stacked under the heap curve
  std::string csv;     // also write the series here when not empty
  std::vector<std::string> skip;
};
int plot_command(const PlotOptions& options);

}  // namespace heapline::cli

// The subcommands of the `heapline` CLI, one file each. main.cpp parses the command line (CLI11)
// into these option structs and calls the matching function, whose return value is the exit
// status: 0 success, 1 a finding the user asked to fail on (leaks), 2 bad input or usage.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace heapline::cli {

struct RunOptions {
  std::string output = "heapline.%e.%p.trace";
  uint32_t depth = 0;  // 0 = the recorder's default
  std::vector<std::string> command;
};
int run_command(const RunOptions& options);

struct DumpOptions {
  std::string trace;
  bool stacks = true;
};
int dump_command(const DumpOptions& options);

struct ReportOptions {
  std::string trace;
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

}  // namespace heapline::cli

// What the analyzer tests share: running a program (traced or not) and collecting its exit status,
// output and trace; finding a marked line in a test program's source; and reading a Report by
// source line, so that a test states its expectations as "file:line leaked N bytes in M blocks".
//
//   Traced run = trace_program(ANALYSIS_LEAKS);
//   const Report& r = run.report;
//   EXPECT_EQ(leaked_at(r, "analysis_leaks.c", marker_line("analysis_leaks.c", "@leak64")).bytes,
//             6400u);
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "model/report_model.h"

#include "traced_process.h"

namespace heapline::analysis_test {

using analysis::LineFigures;
using analysis::Report;

// A fresh directory for a test's traces: the shared one of tests/support.
using ScratchDir = heapline::e2e::TempDir;

using Env = heapline::e2e::EnvVars;

// How a program ended and what it printed: tests/support's RunResult.
using Outcome = heapline::e2e::RunResult;

struct RunSpec {
  // true: this test's environment minus LD_PRELOAD and HEAPLINE_*, plus `env`; false: `env` only.
  bool inherit_env = true;
  std::string stdin_path = "/dev/null";
  int timeout_s = 60;
};

// Runs argv[0] (a path, not searched in PATH) with argv and the environment `spec` says, through
// tests/support's runner: stdout and stderr captured, killed with its process group at the
// timeout.
Outcome run_program(const std::vector<std::string>& argv, const Env& env,
                    const RunSpec& spec = {});

// A program run under the recorder (tests/support's run_traced: LD_PRELOAD,
// HEAPLINE_OUTPUT=<dir>/t.%p.trace) and the report of its one trace.
struct Traced {
  ScratchDir dir;
  Outcome outcome;
  std::string trace;  // path of the single trace written
  Report report;
};
// Fails the calling test (and leaves `trace` empty) unless exactly one trace was written.
void trace_program(Traced& run, const std::vector<std::string>& argv, const Env& env = {});

// The recorder and the CLI of this build.
const char* preload_library();
const char* heapline_cli();

// Runs the heapline CLI with `args`.
Outcome run_cli(const std::vector<std::string>& args);

// The line of `source` (a file name in tests/programs) carrying the comment "// <marker>"; fails
// the test unless there is exactly one.
uint32_t marker_line(const std::string& source, const std::string& marker);

// Figures of every line entry for `file`:`line` (file compared by file name), summed.
LineFigures line_at(const Report& r, const std::string& file, uint32_t line);

struct LeakTotals {
  uint64_t bytes = 0;
  uint64_t blocks = 0;
  size_t groups = 0;
};
// Leak groups whose site is `file`:`line`, summed.
LeakTotals leaked_at(const Report& r, const std::string& file, uint32_t line);
// Leak groups whose site is in `file`, summed.
LeakTotals leaked_in(const Report& r, const std::string& file);

// The whole report (summary, leak sites, lines) as text for failure messages.
std::string describe(const Report& r);

bool same_file(std::string_view path, std::string_view name);

}  // namespace heapline::analysis_test

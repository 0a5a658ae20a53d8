// What the per-line tests share: running a program under the recorder (or the heapline CLI)
// with its output captured, the known-truth program's traces (run once per test binary, they
// take a second each), and finding a test program's marked lines.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "traced_process.h"

namespace heapline::lines_test {

// A fresh directory for a test's traces: the shared one of tests/support.
using TempDir = heapline::e2e::TempDir;

struct Outcome {
  int exit_code = -1;  // -1 unless the program exited
  int signal = 0;
  std::string out, err;
  bool ok() const { return signal == 0 && exit_code == 0; }
  std::string describe() const;
};

using Env = std::vector<std::pair<std::string, std::string>>;

// Runs argv (argv[0] a path, or a name looked up in PATH) with this process's environment minus
// LD_PRELOAD and HEAPLINE_*, plus `env`; stdin from `stdin_path`; killed after 90 s.
Outcome run(const std::vector<std::string>& argv, const Env& env = {},
            const std::string& stdin_path = "/dev/null");

// Runs argv under the recorder, writing <dir>/t.%p.trace; returns the one trace's path (fails
// the calling test, returning "", unless the program succeeded and wrote exactly one trace).
std::string trace_run(const TempDir& dir, const std::vector<std::string>& argv,
                      const std::string& stdin_path = "/dev/null");
std::string trace_run(const std::string& dir, const std::vector<std::string>& argv,
                      const std::string& stdin_path = "/dev/null");

// `heapline ARGS...`.
Outcome heapline(const std::vector<std::string>& args);
// `heapline ARGS...` that must succeed and print JSON.
nlohmann::json heapline_json(const std::vector<std::string>& args);

// The line of tests/programs/`source` carrying the comment "// <marker>" (exactly one).
uint32_t marker_line(const std::string& source, const std::string& marker);

// Traces of tests/programs/lines_growth.c, recorded once per test binary: normal, and with
// "free" (everything freed just before exit).
struct GrowthTraces {
  std::string keep;
  std::string free_at_exit;
};
const GrowthTraces& growth_traces();

std::string slurp(const std::string& path);
bool ends_with(const std::string& s, const std::string& suffix);

}  // namespace heapline::lines_test

// An unwritable output path (HEAPLINE_OUTPUT=/nonexistent/dir/t.trace): the recorder says so in
// exactly one line on stderr and otherwise stays out of the way: the program's stdout, the rest
// of its stderr and its exit status are byte-identical to a run without the recorder.
#include <gtest/gtest.h>
#include <signal.h>

#include <string>
#include <vector>

#include "source_text.h"
#include "traced_process.h"

namespace heapline::e2e {
namespace {

constexpr const char* kUnwritable = "/nonexistent/dir/t.trace";


// Runs `args` with and without the recorder; returns the recorder's lines on stderr after
// checking that everything else is identical.
std::vector<std::string> compare_runs(const std::string& program,
                                      const std::vector<std::string>& args) {
  TempDir dir;
  RunOptions options;
  options.output = kUnwritable;
  const RunResult plain = run_untraced(program, args, options);
  const RunResult traced = run_traced(dir, program, args, options);
  EXPECT_FALSE(plain.timed_out || traced.timed_out);
  EXPECT_EQ(traced.out, plain.out);
  EXPECT_EQ(traced.exit_code, plain.exit_code);
  EXPECT_EQ(traced.signal, plain.signal);
  EXPECT_TRUE(traced.traces.empty());
  std::vector<std::string> ours, theirs;
  for (const std::string& line : lines_of(traced.err))
    (line.starts_with("heapline[") ? ours : theirs).push_back(line);
  EXPECT_EQ(theirs, lines_of(plain.err));
  return ours;
}

TEST(OutputFailureTest, ProgramOutputAndStatusAreUnchanged) {
  const auto ours = compare_runs(E2E_EXIT_PATHS, {"return", "100"});
  ASSERT_EQ(ours.size(), 1u);
  EXPECT_NE(ours[0].find(kUnwritable), std::string::npos) << ours[0];
}

TEST(OutputFailureTest, ExitStatusOfExitAndAbortIsUnchanged) {
  EXPECT_EQ(compare_runs(E2E_EXIT_PATHS, {"exit", "10"}).size(), 1u);
  EXPECT_EQ(compare_runs(E2E_EXIT_PATHS, {"abort", "10"}).size(), 1u);
}

// A program that forks and execs: still exactly one line per process that tried to start a
// trace, and nothing else changes. (The forked child inherits the recorder switched off; only
// the exec'd image, a new process image, tries again.)
TEST(OutputFailureTest, ForkAndExecStayQuiet) {
  const auto ours = compare_runs(E2E_FORK, {"fork-exec"});
  EXPECT_EQ(ours.size(), 2u);
  const auto forked = compare_runs(E2E_FORK, {"fork"});
  EXPECT_EQ(forked.size(), 1u);
}

}  // namespace
}  // namespace heapline::e2e

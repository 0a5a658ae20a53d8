// `heapline run -o DIR/x.%p.trace -- PROG ARGS`: the CLI exits with the program's status (128+N
// when a signal killed it, as a shell does), tells on stderr where each trace went, and the trace
// there is the program's.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "trace_contents.h"
#include "traced_process.h"

namespace heapline::e2e {
namespace {

// Paths that `heapline run` reported on stderr.
std::vector<std::string> reported_traces(const std::string& err) {
  static const std::regex line("^heapline: trace written to (.*)$", std::regex::multiline);
  std::vector<std::string> out;
  for (auto it = std::sregex_iterator(err.begin(), err.end(), line); it != std::sregex_iterator();
       ++it)
    out.push_back((*it)[1].str());
  return out;
}

RunResult heapline_run(const TempDir& dir, const std::vector<std::string>& command) {
  std::vector<std::string> args{"run", "-o", dir.file("x.%p.trace"), "--"};
  args.insert(args.end(), command.begin(), command.end());
  return run_untraced(HEAPLINE_CLI, args);  // the CLI itself is not traced; it preloads PROG
}

TEST(HeaplineRunTest, ExitsWithTheProgramsStatusAndReportsTheTrace) {
  TempDir dir;
  const RunResult r = heapline_run(dir, {E2E_EXIT_PATHS, "exit", "25"});
  EXPECT_TRUE(r.exited(3)) << r.describe();
  const auto reported = reported_traces(r.err);
  ASSERT_EQ(reported.size(), 1u) << r.err;
  EXPECT_EQ(dir.traces(), reported);
  const TraceContents t = read_trace(reported[0]);
  EXPECT_EQ(std::filesystem::path(reported[0]).filename().string(),
            "x." + std::to_string(t.header.pid) + ".trace");
  EXPECT_EQ(t.header.ppid, static_cast<uint32_t>(r.pid));  // heapline run forked it
  EXPECT_EQ(count_events(t, from_module(E2E_EXIT_PATHS)).sizes,
            (std::map<uint64_t, uint64_t>{{777, 25}}));
  ASSERT_EQ(t.exits.size(), 1u);
  EXPECT_EQ(t.exits[0].status, 3);
}

TEST(HeaplineRunTest, PassesStdoutThroughAndReturnsStatus) {
  TempDir dir;
  const RunResult r = heapline_run(dir, {E2E_EXIT_PATHS, "return", "5"});
  EXPECT_TRUE(r.exited(2)) << r.describe();
  EXPECT_EQ(r.out, "allocated 5\n");
  EXPECT_EQ(reported_traces(r.err).size(), 1u);
}

TEST(HeaplineRunTest, ProgramKilledBySignalGives128PlusSignal) {
  TempDir dir;
  const RunResult r = heapline_run(dir, {E2E_EXIT_PATHS, "abort", "5"});
  EXPECT_TRUE(r.exited(128 + 6)) << r.describe();
  const auto reported = reported_traces(r.err);
  ASSERT_EQ(reported.size(), 1u) << r.err;
  EXPECT_EQ(count_events(read_trace(reported[0]), from_module(E2E_EXIT_PATHS)).allocations, 5u);
}

TEST(HeaplineRunTest, EveryProcessOfAForkingProgramIsReported) {
  TempDir dir;
  const RunResult r = heapline_run(dir, {E2E_FORK, "fork"});
  EXPECT_TRUE(r.exited(0)) << r.describe();
  auto reported = reported_traces(r.err);
  std::sort(reported.begin(), reported.end());
  EXPECT_EQ(reported.size(), 2u);
  EXPECT_EQ(dir.traces(), reported);
}

}  // namespace
}  // namespace heapline::e2e

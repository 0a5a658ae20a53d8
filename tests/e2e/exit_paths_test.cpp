// Every way a process ends (tests/programs/e2e_exit_paths.cpp): the trace is readable and holds
// every allocation made before the end, including when the process is SIGKILLed; an exit or _exit
// record is present exactly for the paths that run exit handlers or call _exit (abort may leave a
// kSignal record instead; SIGKILL leaves none).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <map>
#include <optional>
#include <string>

#include "trace_contents.h"
#include "traced_process.h"

namespace heapline::e2e {
namespace {

constexpr uint64_t kAllocationSize = 777;

struct ExitPath {
  const char* mode;
  long allocations;
  int exit_code;  // -1: killed by `signal`
  int signal;
  std::optional<format::ExitKind> record;
};

void PrintTo(const ExitPath& p, std::ostream* os) { *os << p.mode; }

class ExitPathTest : public ::testing::TestWithParam<ExitPath> {};

// The N allocations are all there, all live, and nothing else of the program's is.
void expect_all_allocations(const TraceContents& t, long n) {
  const EventCounts c = count_events(t, from_module(E2E_EXIT_PATHS));
  EXPECT_EQ(c.allocations, static_cast<uint64_t>(n));
  EXPECT_EQ(c.sizes, (std::map<uint64_t, uint64_t>{{kAllocationSize, n}}));
  EXPECT_EQ(c.live, static_cast<uint64_t>(n));
  EXPECT_EQ(t.lost_allocations, 0u);
}

TEST_P(ExitPathTest, TraceIsReadableAndComplete) {
  const ExitPath& p = GetParam();
  TempDir dir;
  const RunResult r = run_traced(dir, E2E_EXIT_PATHS, {p.mode, std::to_string(p.allocations)});
  if (p.exit_code >= 0) {
    EXPECT_TRUE(r.exited(p.exit_code)) << r.describe();
  } else {
    EXPECT_TRUE(r.killed_by(p.signal)) << r.describe();
  }
  ASSERT_EQ(r.traces.size(), 1u);
  const TraceContents t = read_trace(r.traces[0]);
  EXPECT_EQ(t.header.pid, static_cast<uint32_t>(r.pid));
  expect_all_allocations(t, p.allocations);
  // Disk blocks: the ring's chunks are 128 KiB once backed; every end, the ones without a drain
  // pass (_exit, abort) included, gives back what its chunks hold past their records.
  struct stat st {};
  ASSERT_EQ(stat(r.traces[0].c_str(), &st), 0);
  EXPECT_LT(st.st_blocks * 512, 64 * 1024) << "bytes on disk";
  if (p.record) {
    ASSERT_EQ(t.exits.size(), 1u);
    EXPECT_EQ(t.exits[0].kind, *p.record);
    EXPECT_EQ(t.exits[0].status, p.exit_code);
    EXPECT_EQ(t.exits[0].tid, t.header.pid);
  } else {
    // No exit or _exit record: the process never got there. The recorder may say how it died
    // instead (ExitKind::kSignal, written by its abort() hook), but then once and truthfully.
    EXPECT_LE(t.exits.size(), 1u);
    for (const ExitInfo& e : t.exits) {
      EXPECT_EQ(e.kind, format::ExitKind::kSignal);
      EXPECT_EQ(e.status, p.signal);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllPaths, ExitPathTest,
                         ::testing::Values(ExitPath{"return", 1000, 2, 0, format::ExitKind::kExit},
                                           ExitPath{"exit", 1000, 3, 0, format::ExitKind::kExit},
                                           ExitPath{"_exit", 1000, 4, 0,
                                                    format::ExitKind::kUnderscoreExit},
                                           ExitPath{"abort", 1000, -1, SIGABRT, std::nullopt},
                                           ExitPath{"throw", 1000, -1, SIGABRT, std::nullopt}),
                         [](const ::testing::TestParamInfo<ExitPath>& info) {
                           const std::string mode = info.param.mode;
                           return mode == "_exit" ? std::string("underscore_exit") : mode;
                         });

// SIGKILL after the program has made exactly N allocations (it says so on stdout, then blocks):
// every one of them is in the trace. Small chunks, so that some records were already drained
// into compressed frames and the rest are read from the ring.
TEST(ExitPathKillTest, SigkillKeepsEveryAllocationMadeBeforeIt) {
  constexpr long kAllocations = 20000;
  TempDir dir;
  RunOptions options;
  options.env = {{"HEAPLINE_CHUNK_KB", "4"}};
  RunningProgram program(E2E_EXIT_PATHS, {"wait", std::to_string(kAllocations)}, preload_library(),
                         dir.file("t.%p.trace"), options);
  ASSERT_TRUE(program.wait_for_stdout("ready " + std::to_string(kAllocations) + "\n", 30000));
  ASSERT_EQ(kill(program.pid(), SIGKILL), 0);
  const RunResult r = program.wait(10000);
  EXPECT_TRUE(r.killed_by(SIGKILL)) << r.describe();
  EXPECT_EQ(r.err, "");

  const auto traces = dir.traces();
  ASSERT_EQ(traces.size(), 1u);
  const TraceContents t = read_trace(traces[0]);
  expect_all_allocations(t, kAllocations);
  EXPECT_TRUE(t.exits.empty());
  EXPECT_FALSE(t.truncated);
  // Whatever the drain had not compressed yet is read from the ring (the main thread's chunk at
  // least, which it still owned). How much was drained depends on scheduling: shown, not checked.
  EXPECT_GE(t.ring_chunks, 1u);
  RecordProperty("frames", static_cast<int>(t.frames));
  RecordProperty("ring_chunks", static_cast<int>(t.ring_chunks));
}

}  // namespace
}  // namespace heapline::e2e

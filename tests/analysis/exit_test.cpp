// How a process ends: `complete` is true exactly for return from main and exit() (from any
// thread), false for _exit, _Exit, abort and SIGKILL; and memory that static destructors, atexit
// handlers and the destructors of libraries finalized after the recorder free is not leaked.
#include <signal.h>

#include <gtest/gtest.h>

#include "analysis_harness.h"

namespace heapline::analysis_test {
namespace {

struct ExitCase {
  const char* name;  // of the test case
  const char* how;
  int exit_code;  // -1: killed
  int signal;
  bool complete;
};

void PrintTo(const ExitCase& c, std::ostream* out) { *out << c.how; }

class ExitPaths : public ::testing::TestWithParam<ExitCase> {};

TEST_P(ExitPaths, CompleteOnlyForNormalExit) {
  const ExitCase& c = GetParam();
  Traced run;
  trace_program(run, {ANALYSIS_EXIT_PATHS, c.how});
  if (c.signal) {
    EXPECT_EQ(run.outcome.signal, c.signal) << run.outcome.describe();
  } else {
    EXPECT_TRUE(run.outcome.exited(c.exit_code)) << run.outcome.describe();
  }
  const Report& r = run.report;
  SCOPED_TRACE(describe(r));
  EXPECT_EQ(r.complete, c.complete);
  if (c.complete) {
    EXPECT_EQ(r.process.exit_status, c.exit_code);
  }
  // Whatever the ending, the leak that happened before it is in the trace.
  const uint32_t line = marker_line("analysis_exit_paths.c", "@exit_leak");
  const LeakTotals leak = leaked_at(r, "analysis_exit_paths.c", line);
  EXPECT_EQ(leak.bytes, 3u * 4321);
  EXPECT_EQ(leak.blocks, 3u);
}

INSTANTIATE_TEST_SUITE_P(
    AllEndings, ExitPaths,
    ::testing::Values(ExitCase{"Return", "return", 4, 0, true},
                      ExitCase{"Exit", "exit", 7, 0, true},
                      ExitCase{"ExitInThread", "exit_in_thread", 3, 0, true},
                      ExitCase{"UnderscoreExit", "_exit", 5, 0, false},
                      ExitCase{"UnderscoreExitUpper", "_Exit", 6, 0, false},
                      ExitCase{"Abort", "abort", -1, SIGABRT, false},
                      ExitCase{"SigKill", "sigkill", -1, SIGKILL, false}),
    [](const ::testing::TestParamInfo<ExitCase>& info) { return std::string(info.param.name); });

TEST(Finalizers, MemoryFreedAtExitIsNotLeaked) {
  Traced run;
  // The loader's own account of the finalization order, to prove the case is the one meant:
  // the library's destructor runs after the recorder's.
  trace_program(run, {ANALYSIS_FINALIZERS}, {{"LD_DEBUG", "files"}});
  ASSERT_TRUE(run.outcome.exited(0)) << run.outcome.describe();
  const size_t recorder_fini = run.outcome.err.find("calling fini: " HEAPLINE_PRELOAD_LIB);
  const size_t library_fini = run.outcome.err.find("calling fini: " ANALYSIS_FINALIB);
  ASSERT_NE(recorder_fini, std::string::npos) << run.outcome.err;
  ASSERT_NE(library_fini, std::string::npos) << run.outcome.err;
  EXPECT_LT(recorder_fini, library_fini);
  const Report& r = run.report;
  SCOPED_TRACE(describe(r));
  EXPECT_TRUE(r.complete);
  const char* source = "analysis_finalizers.cpp";
  for (const char* marker : {"@static_alloc", "@atexit_alloc"}) {
    const LineFigures f = line_at(r, source, marker_line(source, marker));
    EXPECT_EQ(f.allocations, 1u) << marker;
    EXPECT_EQ(f.leaked_bytes, 0u) << marker;
  }
  const LineFigures lib = line_at(r, "analysis_finalib.c", marker_line("analysis_finalib.c", "@finalib_alloc"));
  EXPECT_EQ(lib.allocations, 1u);
  EXPECT_EQ(lib.bytes_allocated, 3333u);
  EXPECT_EQ(lib.leaked_bytes, 0u);
  const LeakTotals real = leaked_at(r, source, marker_line(source, "@real_leak"));
  EXPECT_EQ(real.bytes, 2u * 1111);
  EXPECT_EQ(real.blocks, 2u);
  // Those two blocks are the only leak of the whole process.
  EXPECT_EQ(r.summary.leaked_bytes, 2u * 1111);
  EXPECT_EQ(r.summary.leaked_blocks, 2u);
}

}  // namespace
}  // namespace heapline::analysis_test

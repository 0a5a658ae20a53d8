// Thread lifecycles (tests/programs/rel_threads.cpp) and fatal signals (rel_crash.c): thousands
// of threads created and joined, threads exiting while others allocate, thread_local and
// pthread-key destructors that free after the thread's last allocation, and a SIGSEGV that ends
// the process with the trace readable up to its last record.
#include <gtest/gtest.h>
#include <signal.h>

#include <string>
#include <vector>

#include "model/report_model.h"
#include "reliability_support.h"

namespace heapline::reliability {
namespace {

using e2e::RunResult;
using e2e::TempDir;

TraceTally only_trace(const RunResult& r) {
  EXPECT_EQ(r.traces.size(), 1u);
  if (r.traces.size() != 1) return {};
  TraceTally t = tally_trace(r.traces[0]);
  EXPECT_FALSE(t.truncated);
  EXPECT_EQ(t.lost_allocations + t.lost_frees, 0u);
  EXPECT_EQ(t.allocs_at_live_address, 0u);
  EXPECT_EQ(t.unmatched_frees, 0u);
  return t;
}

TEST(Threads, ThreeThousandThreadsTenAllocationsEach) {
  TempDir dir;
  const RunResult r = expect_same_behaviour(dir, REL_THREADS, {"many", "3000", "10"});
  ASSERT_TRUE(r.exited(0)) << r.describe();
  const TraceTally t = only_trace(r);
  EXPECT_EQ(t.allocs_of(3001), 30000u);
  EXPECT_EQ(t.frees_of(3001), 30000u);
  // Thread ids are reused by the kernel (pid_max may be 32768), so distinct ids only bound the
  // count from below: far more than the 16 that run at a time.
  EXPECT_GT(t.sizes.at(3001).threads.size(), 100u);
  EXPECT_TRUE(t.ended_by_exit(0));
}

// A thread's first stack captures make the recorder call foreign code that allocates (libc's
// pthread_getattr_np reads /proc/self/maps through stdio for the main thread; pthread_setspecific
// may grow the key table; libunwind). Those calls run in heapline's internal phase: none of
// their blocks may be recorded as the program's, on the main thread or on any of 200 fresh
// threads, whichever unwinder runs. A leak of one would show as a total that depends on the
// unwinder, and as an allocation with a one-frame stack (taken for a signal handler's; the
// frame-pointer walk of this program, built without frame pointers, ends after one frame anyway).
TEST(Threads, RecordersOwnAllocationsOnFreshThreadsAreNotTheProgramsUnderEveryUnwinder) {
  std::vector<uint64_t> totals;
  for (const char* unwind : {"dwarf", "libunwind", "fp"}) {
    SCOPED_TRACE(unwind);
    TempDir dir;
    e2e::RunOptions options;
    options.env = {{"HEAPLINE_UNWIND", unwind}};
    options.inherit_env = false;
    const RunResult r = e2e::run_traced(dir, REL_THREADS, {"many", "200", "3"}, options);
    ASSERT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(heapline_lines(r.err), std::vector<std::string>{});
    const TraceTally t = only_trace(r);
    EXPECT_EQ(t.allocs_of(3001), 600u);
    EXPECT_EQ(t.frees_of(3001), 600u);
    if (std::string(unwind) != "fp") {
      EXPECT_EQ(t.one_frame_allocations, 0u);
    }
    totals.push_back(t.allocations);
  }
  ASSERT_EQ(totals.size(), 3u);
  EXPECT_EQ(totals[1], totals[0]) << "libunwind";
  EXPECT_EQ(totals[2], totals[0]) << "fp";
}

TEST(Threads, ThreadsExitWhileOthersAllocate) {
  TempDir dir;
  const RunResult r = run_traced(dir, REL_THREADS, {"overlap", "500"});
  ASSERT_TRUE(r.exited(0)) << r.describe();
  EXPECT_EQ(heapline_lines(r.err), std::vector<std::string>{});
  // "overlap: 500 short threads, N steady blocks": N is the truth for size 5001.
  const std::string prefix = "overlap: 500 short threads, ";
  ASSERT_TRUE(r.out.starts_with(prefix)) << r.out;
  const uint64_t steady = std::stoull(r.out.substr(prefix.size()));
  const TraceTally t = only_trace(r);
  EXPECT_EQ(t.allocs_of(5001), steady);
  EXPECT_EQ(t.frees_of(5001), steady);
  EXPECT_EQ(t.allocs_of(5003), 2500u);
  EXPECT_EQ(t.frees_of(5003), 2500u);  // 2000 by the short threads, 500 by main after the joins
  EXPECT_EQ(t.sizes.at(5001).threads.size(), 4u);
  EXPECT_TRUE(t.ended_by_exit(0));
}

TEST(Threads, FreesByThreadLocalAndKeyDestructorsAreRecorded) {
  TempDir dir;
  const RunResult r = expect_same_behaviour(dir, REL_THREADS, {"tls", "200"});
  ASSERT_TRUE(r.exited(0)) << r.describe();
  const TraceTally t = only_trace(r);
  for (uint64_t size : {7001u, 7003u}) {
    SCOPED_TRACE(size);
    EXPECT_EQ(t.allocs_of(size), 200u);
    EXPECT_EQ(t.frees_of(size), 200u);  // no false leak
    ASSERT_TRUE(t.sizes.count(size));
    // Freed by the thread that allocated them (as it exited), not by main.
    EXPECT_EQ(t.sizes.at(size).freeing_threads.count(t.header.pid), 0u);
  }
  // And the analysis agrees: nothing from these sizes is in the leak report.
  const analysis::Report report = analysis::analyze_trace(r.traces[0], {});
  for (const analysis::LeakGroup& leak : report.leaks)
    EXPECT_EQ(leak.site.function.find("tls_body"), std::string::npos) << leak.site.function;
}

class FatalSignal : public ::testing::TestWithParam<const char*> {};

TEST_P(FatalSignal, TraceIsReadableToTheLastRecordAndSaysItEndedWithoutExit) {
  TempDir dir;
  const RunResult plain = e2e::run_untraced(REL_CRASH, {GetParam(), "40"});
  const RunResult r = run_traced(dir, REL_CRASH, {GetParam(), "40"});
  ASSERT_TRUE(plain.killed_by(SIGSEGV)) << plain.describe();
  ASSERT_TRUE(r.killed_by(SIGSEGV)) << r.describe();
  EXPECT_EQ(r.out, plain.out);
  EXPECT_EQ(heapline_lines(r.err), std::vector<std::string>{});
  ASSERT_EQ(r.traces.size(), 1u);
  const TraceTally t = tally_trace(r.traces[0]);
  EXPECT_EQ(t.allocs_of(2501), 40u);  // every allocation made before the crash
  EXPECT_EQ(t.frees_of(2501), 0u);
  EXPECT_EQ(t.allocs_of(2503), 3u);
  EXPECT_EQ(t.frees_of(2503), 3u);
  // No exit record, or (should the recorder ever stamp fatal signals) one naming SIGSEGV.
  if (!t.exits.empty()) {
    ASSERT_EQ(t.exits.size(), 1u);
    EXPECT_EQ(t.exits[0], format::ExitKind::kSignal);
    EXPECT_EQ(t.exit_statuses[0], SIGSEGV);
  }
  EXPECT_EQ(t.lost_allocations, 0u);

  const analysis::Report report = analysis::analyze_trace(r.traces[0], {});
  EXPECT_FALSE(report.complete);
  EXPECT_GE(report.summary.leaked_blocks, 40u);
  const RunResult text = e2e::run_untraced(HEAPLINE_CLI, {"report", r.traces[0]});
  ASSERT_TRUE(text.exited(0)) << text.describe();
  const bool says_so = text.out.find("ended: without exit") != std::string::npos ||
                       text.out.find("ended: killed by signal 11") != std::string::npos;
  EXPECT_TRUE(says_so) << text.out;
  EXPECT_NE(text.out.find("INCOMPLETE"), std::string::npos) << text.out;
}

INSTANTIATE_TEST_SUITE_P(Reliability, FatalSignal, ::testing::Values("raise", "write"));

// The recorder's SIGBUS handler (for a trace truncated under its mapping) must not change what
// any other SIGBUS does: sent with raise(), or a real fault on the program's own mapping.
TEST(FatalSignal, ProgramsOwnSigbusStillKillsIt) {
  for (const char* mode : {"bus-raise", "bus-fault"}) {
    SCOPED_TRACE(mode);
    TempDir dir;
    const RunResult plain = e2e::run_untraced(REL_CRASH, {mode, "5"});
    const RunResult r = run_traced(dir, REL_CRASH, {mode, "5"});
    EXPECT_TRUE(plain.killed_by(SIGBUS)) << plain.describe();
    EXPECT_TRUE(r.killed_by(SIGBUS)) << r.describe();
    EXPECT_EQ(r.out, plain.out);
    ASSERT_EQ(r.traces.size(), 1u);
    EXPECT_EQ(tally_trace(r.traces[0]).allocs_of(2501), 5u);
  }
}

}  // namespace
}  // namespace heapline::reliability

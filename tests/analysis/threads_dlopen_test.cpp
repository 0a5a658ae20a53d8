// Threads and dlopen'ed libraries: per-line figures stay exact when four threads allocate at once,
// and leaks of libraries that were unloaded before exit (one after the other, so that the second
// may reuse the first's addresses) are attributed to each library's own source lines.
#include <gtest/gtest.h>

#include "analysis_harness.h"

namespace heapline::analysis_test {
namespace {

TEST(Threads, FourThreadsExactPerLineFigures) {
  Traced empty, run;
  trace_program(empty, {ANALYSIS_EMPTY_C});
  trace_program(run, {ANALYSIS_THREADS});
  ASSERT_TRUE(run.outcome.exited(0)) << run.outcome.describe();
  const Report& r = run.report;
  SCOPED_TRACE(describe(r));
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.summary.lost_allocations, 0u);
  EXPECT_EQ(r.summary.unmatched_frees, 0u);
  const char* source = "analysis_threads.c";

  const uint32_t leak_line = marker_line(source, "@thread_leak");
  const LineFigures leak = line_at(r, source, leak_line);
  EXPECT_EQ(leak.allocations, 4u * 250);
  EXPECT_EQ(leak.bytes_allocated, 4u * 250 * 32);
  EXPECT_EQ(leak.peak_bytes, 4u * 250 * 32);
  EXPECT_EQ(leak.leaked_bytes, 4u * 250 * 32);
  EXPECT_EQ(leak.leaked_blocks, 4u * 250);
  EXPECT_EQ(leak.where.function, "worker");
  const LeakTotals leaked = leaked_at(r, source, leak_line);
  EXPECT_EQ(leaked.bytes, 4u * 250 * 32);
  EXPECT_EQ(leaked.blocks, 4u * 250);
  EXPECT_EQ(leaked.groups, 1u);

  const LineFigures temp = line_at(r, source, marker_line(source, "@thread_temp"));
  EXPECT_EQ(temp.allocations, 4u * 100);
  EXPECT_EQ(temp.bytes_allocated, 4u * 100 * 48);
  EXPECT_EQ(temp.peak_bytes, 0u);
  EXPECT_EQ(temp.leaked_bytes, 0u);
  EXPECT_EQ(temp.leaked_blocks, 0u);
  // Each is freed right after it was allocated, by its own thread. "Temporary" is defined on the
  // merged stream (as heaptrack defines it): another thread's allocation landing in between
  // makes one not count, so the count is at most 400 and, with threads that overlap, less.
  EXPECT_LE(temp.temporary, 4u * 100);

  // glibc's per-thread TLS vectors, allocated by pthread_create (one per thread) and kept after
  // the join, are attributed to the line that created the threads; nothing else leaks.
  const LeakTotals dtv = leaked_at(r, source, marker_line(source, "@thread_create"));
  EXPECT_EQ(dtv.blocks, 4u);
  EXPECT_EQ(leaked_in(r, source).bytes, 4u * 250 * 32 + dtv.bytes);
  EXPECT_EQ(r.summary.leaked_bytes, 4u * 250 * 32 + dtv.bytes);
  EXPECT_EQ(r.summary.leaked_blocks, 4u * 250 + 4);
  // The peak is the end state: everything leaked plus the runtime's block.
  EXPECT_EQ(r.summary.peak_bytes, empty.report.summary.peak_bytes + 4u * 250 * 32 + dtv.bytes);
}

// Blocks allocated by one thread and freed by another within the same tick: the reader merges
// the free first (it cannot order them by time), and the model must still match the two.
TEST(Threads, BlocksFreedByAnotherThreadInTheSameTickAreNotLeaks) {
  Traced run;
  trace_program(run, {ANALYSIS_HANDOFF});
  ASSERT_TRUE(run.outcome.exited(0)) << run.outcome.describe();
  const Report& r = run.report;
  SCOPED_TRACE(describe(r));
  const char* source = "analysis_handoff.c";
  const LineFigures handoff = line_at(r, source, marker_line(source, "@handoff_alloc"));
  EXPECT_EQ(handoff.allocations, 200000u);
  EXPECT_EQ(handoff.bytes_allocated, 200000u * 64);
  EXPECT_EQ(handoff.leaked_blocks, 0u);
  EXPECT_EQ(handoff.leaked_bytes, 0u);
  EXPECT_LE(handoff.peak_bytes, 66u * 64) << "at most the ring's 64 blocks (and two in flight) live";
  EXPECT_EQ(r.summary.unmatched_frees, 0u);
  EXPECT_EQ(r.summary.lost_allocations, 0u);
}

TEST(Dlopen, LeaksOfUnloadedLibrariesAreTheirOwnLines) {
  Traced run;
  trace_program(run, {ANALYSIS_DLOPEN, ANALYSIS_PLUGIN_A, ANALYSIS_PLUGIN_B});
  ASSERT_TRUE(run.outcome.exited(0)) << run.outcome.describe();
  const Report& r = run.report;
  SCOPED_TRACE(describe(r));
  EXPECT_TRUE(r.complete);

  struct Expected {
    const char* source;
    const char* marker;
    uint64_t bytes, blocks;
    const char* function;
    const char* module;
  };
  const Expected expected[] = {
      {"analysis_plugin_a.c", "@a_ctor_leak", 2 * 222, 2, "plugin_a_init", ANALYSIS_PLUGIN_A},
      {"analysis_plugin_a.c", "@a_leak", 7 * 333, 7, "plugin_a_run", ANALYSIS_PLUGIN_A},
      {"analysis_plugin_b.c", "@b_leak", 5 * 444, 5, "plugin_b_run", ANALYSIS_PLUGIN_B},
  };
  for (const Expected& e : expected) {
    SCOPED_TRACE(e.marker);
    const uint32_t line = marker_line(e.source, e.marker);
    const LeakTotals leak = leaked_at(r, e.source, line);
    EXPECT_EQ(leak.bytes, e.bytes);
    EXPECT_EQ(leak.blocks, e.blocks);
    const LineFigures f = line_at(r, e.source, line);
    EXPECT_EQ(f.allocations, e.blocks);
    EXPECT_EQ(f.where.function, e.function);
    for (const auto& g : r.leaks) {
      if (g.site.line != line || !same_file(g.site.file, e.source)) continue;
      ASSERT_FALSE(g.stack.empty());
      // The innermost frame of the site is in the plugin, resolved though it was unloaded.
      bool in_module = false;
      for (const auto& f : g.stack) in_module |= f.module() == e.module && f.line() == line;
      EXPECT_TRUE(in_module) << e.module;
    }
  }
  // The run functions were called from the program's line.
  const uint32_t call = marker_line("analysis_dlopen.c", "@call_plugin");
  for (const auto& g : r.leaks) {
    if (!same_file(g.site.file, "analysis_plugin_a.c") || g.site.function != "plugin_a_run") continue;
    ASSERT_GE(g.stack.size(), 2u);
    EXPECT_TRUE(same_file(g.stack[1].file(), "analysis_dlopen.c"));
    EXPECT_EQ(g.stack[1].line(), call);
  }
  const LineFigures freed = line_at(r, "analysis_plugin_a.c", marker_line("analysis_plugin_a.c", "@a_freed"));
  EXPECT_EQ(freed.allocations, 4u);
  EXPECT_EQ(freed.bytes_allocated, 4u * 555);
  EXPECT_EQ(freed.leaked_bytes, 0u);
  // Nothing leaked in the plugins except what they are known to leak.
  EXPECT_EQ(leaked_in(r, "analysis_plugin_a.c").bytes, 2u * 222 + 7 * 333);
  EXPECT_EQ(leaked_in(r, "analysis_plugin_b.c").bytes, 5u * 444);
}

}  // namespace
}  // namespace heapline::analysis_test

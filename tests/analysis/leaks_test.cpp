// Exact figures for a C and a C++ program whose own allocations are known (see the header comments
// of tests/programs/analysis_leaks.c and analysis_leaks_cxx.cpp): per line, per leak site, and in
// the summary. The runtime's own allocations are measured with a program that does nothing
// (analysis_empty.c / .cpp) and subtracted; the program's allocations use sizes the runtime
// never does, so the per-line figures need no subtraction at all.
#include <gtest/gtest.h>

#include "analysis_harness.h"

namespace heapline::analysis_test {
namespace {

constexpr uint64_t kMiB = 1 << 20;

// What one marked line of a program must show.
struct LineTruth {
  const char* marker;
  uint64_t allocations;
  uint64_t bytes_allocated;
  uint64_t peak_bytes;  // live at the global peak
  uint64_t leaked_bytes;
  uint64_t leaked_blocks;
  uint64_t temporary;
  const char* function;  // the site's function (substring), or nullptr
};

// What a whole program must show, over and above its runtime (the empty program).
struct ProgramTruth {
  const char* program;
  const char* empty_program;
  const char* source;
  std::vector<LineTruth> lines;
  uint64_t own_allocations, own_frees, own_bytes, own_peak, own_temporary;
};

void check_program(const ProgramTruth& truth) {
  Traced empty, run;
  trace_program(empty, {truth.empty_program});
  trace_program(run, {truth.program});
  ASSERT_TRUE(run.outcome.exited(0)) << run.outcome.describe();
  const Report& r = run.report;
  const Report& e = empty.report;
  SCOPED_TRACE(describe(r) + "\nempty program: " + describe(e));

  EXPECT_TRUE(r.complete);
  EXPECT_TRUE(e.complete);
  EXPECT_EQ(r.summary.lost_allocations, 0u);
  EXPECT_EQ(r.summary.unmatched_frees, 0u);

  uint64_t leaked_bytes = 0, leaked_blocks = 0;
  for (const LineTruth& t : truth.lines) {
    SCOPED_TRACE(std::string("marker ") + t.marker);
    const uint32_t line = marker_line(truth.source, t.marker);
    const LineFigures f = line_at(r, truth.source, line);
    EXPECT_EQ(f.allocations, t.allocations);
    EXPECT_EQ(f.bytes_allocated, t.bytes_allocated);
    EXPECT_EQ(f.peak_bytes, t.peak_bytes);
    EXPECT_EQ(f.leaked_bytes, t.leaked_bytes);
    EXPECT_EQ(f.leaked_blocks, t.leaked_blocks);
    EXPECT_EQ(f.temporary, t.temporary);
    if (t.function) {
      EXPECT_NE(f.where.function.find(t.function), std::string::npos) << f.where.function;
    }
    const LeakTotals leak = leaked_at(r, truth.source, line);
    EXPECT_EQ(leak.bytes, t.leaked_bytes);
    EXPECT_EQ(leak.blocks, t.leaked_blocks);
    leaked_bytes += t.leaked_bytes;
    leaked_blocks += t.leaked_blocks;
  }
  // Nothing else of the program's leaks, and the runtime leaks nothing.
  const LeakTotals in_source = leaked_in(r, truth.source);
  EXPECT_EQ(in_source.bytes, leaked_bytes);
  EXPECT_EQ(in_source.blocks, leaked_blocks);
  EXPECT_EQ(e.summary.leaked_bytes, 0u);
  EXPECT_EQ(r.summary.leaked_bytes, leaked_bytes);
  EXPECT_EQ(r.summary.leaked_blocks, leaked_blocks);

  EXPECT_EQ(r.summary.allocations - e.summary.allocations, truth.own_allocations);
  EXPECT_EQ(r.summary.frees - e.summary.frees, truth.own_frees);
  EXPECT_EQ(r.summary.bytes_allocated - e.summary.bytes_allocated, truth.own_bytes);
  // "Temporary" means freed right after (no other allocation in between), so the runtime's one
  // block counts in the empty program and not here: the program's own are counted by line.
  uint64_t own_temporary = 0, all_temporary = 0;
  for (const LineFigures& l : r.lines) {
    all_temporary += l.temporary;
    if (same_file(l.where.file, truth.source)) own_temporary += l.temporary;
  }
  EXPECT_EQ(own_temporary, truth.own_temporary);
  EXPECT_EQ(r.summary.temporary_allocations, all_temporary);
  // The runtime's live set at the program's peak is the empty program's peak (it allocates
  // before main and frees at exit).
  EXPECT_EQ(r.summary.peak_bytes, e.summary.peak_bytes + truth.own_peak);
}

TEST(ProgramLeaks, CProgramExactFigures) {
  const std::vector<LineTruth> lines = {
      {"@leak64", 100, 6400, 6400, 6400, 100, 0, "main"},
      {"@helper1000", 3, 3000, 3000, 3000, 3, 0, "leak_helper"},
      {"@peak_mib", 10, 10 * kMiB, 10 * kMiB, 0, 0, 0, "main"},
      {"@temp777", 5, 5 * 777, 0, 0, 0, 5, "main"},
      {"@calloc1200", 1, 1200, 0, 0, 0, 0, "main"},
      {"@realloc2400", 1, 2400, 0, 2400, 1, 0, "main"},
  };
  check_program({ANALYSIS_LEAKS, ANALYSIS_EMPTY_C, "analysis_leaks.c", lines,
                 /*own_allocations=*/100 + 3 + 10 + 5 + 1 + 1,
                 /*own_frees=*/10 + 5,
                 /*own_bytes=*/6400 + 3000 + 10 * kMiB + 5 * 777 + 1200 + 2400,
                 /*own_peak=*/6400 + 3000 + 10 * kMiB,
                 /*own_temporary=*/5});
}

TEST(ProgramLeaks, CxxProgramExactFigures) {
  const uint64_t string_bytes = sizeof(std::string) + 101;  // the object + 100 chars and the NUL
  const uint64_t vector_object = 3 * sizeof(void*);
  const uint64_t reserve_bytes = 10 * 3 * sizeof(void*);  // 10 std::vector<char> objects
  const std::vector<LineTruth> lines = {
      {"@leak64", 100, 6400, 6400, 6400, 100, 0, "main"},
      {"@helper1000", 3, 3000, 3000, 3000, 3, 0, "leak_helper"},
      {"@string", 2, string_bytes, string_bytes, string_bytes, 2, 0, "main"},
      {"@vector_new", 1, vector_object, vector_object, vector_object, 1, 0, "main"},
      {"@push_back", 1, 700, 700, 700, 1, 0, "main"},
      {"@peak_reserve", 1, reserve_bytes, reserve_bytes, 0, 0, 0, "main"},
      {"@peak_mib", 10, 10 * kMiB, 10 * kMiB, 0, 0, 0, "main"},
  };
  check_program({ANALYSIS_LEAKS_CXX, ANALYSIS_EMPTY_CXX, "analysis_leaks_cxx.cpp", lines,
                 /*own_allocations=*/100 + 3 + 2 + 1 + 1 + 1 + 10,
                 /*own_frees=*/10 + 1,
                 /*own_bytes=*/6400 + 3000 + string_bytes + vector_object + 700 + reserve_bytes +
                     10 * kMiB,
                 /*own_peak=*/6400 + 3000 + string_bytes + vector_object + 700 + reserve_bytes +
                     10 * kMiB,
                 /*own_temporary=*/0});
}

// The frame after a helper's allocation site is the caller's line: the stack is in call order.
TEST(ProgramLeaks, HelperSiteIsFollowedByItsCaller) {
  for (const auto& [program, source] :
       {std::pair{ANALYSIS_LEAKS, "analysis_leaks.c"},
        std::pair{ANALYSIS_LEAKS_CXX, "analysis_leaks_cxx.cpp"}}) {
    Traced run;
    trace_program(run, {program});
    const uint32_t site = marker_line(source, "@helper1000");
    const uint32_t call = marker_line(source, "@helper_call");
    bool seen = false;
    for (const auto& g : run.report.leaks) {
      if (g.site.line != site || !same_file(g.site.file, source)) continue;
      seen = true;
      size_t i = 0;
      while (i < g.stack.size() &&
             !(g.stack[i].line() == site && same_file(g.stack[i].file(), source)))
        ++i;
      ASSERT_LT(i + 1, g.stack.size()) << describe(run.report);
      EXPECT_TRUE(same_file(g.stack[i + 1].file(), source)) << describe(run.report);
      EXPECT_EQ(g.stack[i + 1].line(), call) << describe(run.report);
      EXPECT_EQ(g.stack[i + 1].function(), "main");
    }
    EXPECT_TRUE(seen) << describe(run.report);
  }
}

// Frames without debug info (crt1.o's _start, which -O2 places right after main's CU) have no
// file or line: they must not borrow the last line of the CU before them.
TEST(ProgramLeaks, FramesWithoutDebugInfoHaveNoLine) {
  for (const char* program : {ANALYSIS_LEAKS, ANALYSIS_LEAKS_CXX}) {
    Traced run;
    trace_program(run, {program});
    size_t starts = 0;
    for (const auto& g : run.report.leaks)
      for (const auto& f : g.stack) {
        if (f.function() != "_start") continue;
        ++starts;
        EXPECT_EQ(f.file(), "") << program << "\n" << describe(run.report);
        EXPECT_EQ(f.line(), 0u);
      }
    EXPECT_GT(starts, 0u) << describe(run.report);
  }
}

// The C++ leaks' stacks pass through libstdc++ and its headers; the site never does.
TEST(ProgramLeaks, CxxSitesAreNeverInTheStandardLibrary) {
  Traced run;
  trace_program(run, {ANALYSIS_LEAKS_CXX});
  for (const auto& g : run.report.leaks) {
    if (g.site.file.empty()) continue;  // the runtime's own, if any (none expected)
    EXPECT_TRUE(same_file(g.site.file, "analysis_leaks_cxx.cpp"))
        << g.site.file << ":" << g.site.line << "\n" << describe(run.report);
  }
}

}  // namespace
}  // namespace heapline::analysis_test

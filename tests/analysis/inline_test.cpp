// One source (tests/programs/analysis_inline.c) built at -O0 and at -O2: the allocation sites are
// the same lines in both, and an allocation inside a function that -O2 inlined keeps that
// function's line as its site, with the caller's line as the next frame.
#include <gtest/gtest.h>

#include <set>

#include "analysis_harness.h"

namespace heapline::analysis_test {
namespace {

constexpr const char* kSource = "analysis_inline.c";

std::set<std::pair<uint32_t, std::string>> program_sites(const Report& r) {
  std::set<std::pair<uint32_t, std::string>> sites;
  for (const LineFigures& l : r.lines)
    if (same_file(l.where.file, kSource)) sites.emplace(l.where.line, l.where.function);
  return sites;
}

void check_build(const char* program, bool expect_inlined) {
  SCOPED_TRACE(program);
  Traced run;
  trace_program(run, {program});
  ASSERT_TRUE(run.outcome.exited(0)) << run.outcome.describe();
  const Report& r = run.report;
  SCOPED_TRACE(describe(r));

  const uint32_t alloc = marker_line(kSource, "@inlined_alloc");
  const uint32_t call = marker_line(kSource, "@inline_call");
  const uint32_t fill = marker_line(kSource, "@fill_call");
  const uint32_t direct = marker_line(kSource, "@direct_alloc");

  const LeakTotals inlined = leaked_at(r, kSource, alloc);
  EXPECT_EQ(inlined.bytes, 20u * 96);
  EXPECT_EQ(inlined.blocks, 20u);
  const LeakTotals main_leak = leaked_at(r, kSource, direct);
  EXPECT_EQ(main_leak.bytes, 160u);
  EXPECT_EQ(main_leak.blocks, 1u);

  const std::set<std::pair<uint32_t, std::string>> expected = {{alloc, "make_record"},
                                                               {direct, "main"}};
  EXPECT_EQ(program_sites(r), expected);

  bool seen = false;
  for (const auto& g : r.leaks) {
    if (g.site.line != alloc || !same_file(g.site.file, kSource)) continue;
    seen = true;
    EXPECT_EQ(g.site.function, "make_record");
    size_t site = 0;
    while (site < g.stack.size() && !(g.stack[site].line() == alloc &&
                                      same_file(g.stack[site].file(), kSource)))
      ++site;
    ASSERT_LT(site + 2, g.stack.size());
    // The inlined frame and its caller share one return address at -O2; at -O0 they are two
    // real frames.
    EXPECT_EQ(g.stack[site].inlined(), expect_inlined);
    EXPECT_EQ(g.stack[site + 1].function(), "fill_table");
    EXPECT_TRUE(same_file(g.stack[site + 1].file(), kSource));
    EXPECT_EQ(g.stack[site + 1].line(), call);
    EXPECT_FALSE(g.stack[site + 1].inlined());
    EXPECT_EQ(g.stack[site + 2].function(), "main");
    EXPECT_EQ(g.stack[site + 2].line(), fill);
  }
  EXPECT_TRUE(seen);
}

TEST(Inlining, O0SitesAndCallers) { check_build(ANALYSIS_INLINE_O0, /*expect_inlined=*/false); }

TEST(Inlining, O2InlinedSiteKeepsItsLineAndCaller) {
  check_build(ANALYSIS_INLINE_O2, /*expect_inlined=*/true);
}

TEST(Inlining, SameSitesAtO0AndO2) {
  Traced o0, o2;
  trace_program(o0, {ANALYSIS_INLINE_O0});
  trace_program(o2, {ANALYSIS_INLINE_O2});
  EXPECT_EQ(program_sites(o0.report), program_sites(o2.report))
      << describe(o0.report) << "\n" << describe(o2.report);
  EXPECT_EQ(leaked_in(o0.report, kSource).bytes, leaked_in(o2.report, kSource).bytes);
}

}  // namespace
}  // namespace heapline::analysis_test

// Growth suspects on the known-truth program: only the loop that keeps 1 KiB per iteration is
// flagged (not the cache that fills and stays flat, not the alloc/free loop, not the one-off
// blocks), also when the program frees everything just before it exits.
#include <gtest/gtest.h>

#include "lines_harness.h"
#include "model/timeline_analysis.h"

namespace heapline::lines_test {
namespace {

constexpr const char* kSource = "lines_growth.c";

void expect_only_the_leak_loop(const std::string& trace) {
  analysis::TimelineOptions options;
  options.timeline = false;
  const analysis::TimelineAnalysis a = analysis::analyze_timeline(trace, options);
  ASSERT_EQ(a.growing.size(), 1u);
  const analysis::GrowingSite& g = a.growing[0];
  EXPECT_TRUE(ends_with(g.where.file, std::string("/") + kSource)) << g.where.file;
  EXPECT_EQ(g.where.line, marker_line(kSource, "@keep"));
  EXPECT_EQ(g.where.function, "main");
  // 1000 KiB over the loop, which is nearly the whole run.
  const double expected = 1000.0 * 1024 / (static_cast<double>(a.summary.duration_ns) / 1e9);
  EXPECT_GT(g.bytes_per_s, 0.8 * expected);
  EXPECT_LT(g.bytes_per_s, 1.25 * expected);
  EXPECT_GE(g.confidence, 0.99);
}

TEST(Growth, FlagsTheLeakLoopOnly) {
  ASSERT_FALSE(growth_traces().keep.empty());
  expect_only_the_leak_loop(growth_traces().keep);
}

TEST(Growth, FlagsTheLeakLoopEvenWhenEverythingIsFreedAtExit) {
  ASSERT_FALSE(growth_traces().free_at_exit.empty());
  expect_only_the_leak_loop(growth_traces().free_at_exit);
}

// In a sampled trace (HEAPLINE_SAMPLE_BYTES) each recorded block stands for size / p bytes: the
// replay behind the series must weigh blocks exactly as the model does (same peak), and a leak of
// ~220 sampled blocks out of 1000 is still a steady trend.
TEST(Growth, SampledTraceAgreesWithTheModelAndStillFlagsTheLeak) {
  TempDir dir;
  const Outcome o = run({LINES_GROWTH}, {{"LD_PRELOAD", HEAPLINE_PRELOAD_LIB},
                                         {"HEAPLINE_OUTPUT", dir.file("s.trace")},
                                         {"HEAPLINE_SAMPLE_BYTES", "4096"}});
  ASSERT_TRUE(o.ok()) << o.describe();
  analysis::TimelineOptions options;
  const analysis::TimelineAnalysis a = analysis::analyze_timeline(dir.file("s.trace"), options);
  ASSERT_GT(a.summary.sample_bytes, 0u);
  EXPECT_EQ(a.timeline.peak_bytes, a.summary.peak_bytes);
  EXPECT_EQ(a.timeline.peak_time_ns, a.summary.peak_time_ns);
  bool keep = false;
  for (const analysis::GrowingSite& g : a.growing)
    keep |= g.where.line == marker_line(kSource, "@keep") && g.where.function == "main";
  EXPECT_TRUE(keep);
}

TEST(GrowthCli, LeaksJsonHasTheGrowingList) {
  const std::string& trace = growth_traces().free_at_exit;
  ASSERT_FALSE(trace.empty());
  const nlohmann::json out = heapline_json({"leaks", trace, "--json"});
  EXPECT_EQ(out["summary"]["leaked_bytes"], 0);  // nothing left at the end...
  ASSERT_TRUE(out.contains("growing"));          // ...yet one site kept growing
  ASSERT_EQ(out["growing"].size(), 1u) << out["growing"].dump(1);
  const nlohmann::json& g = out["growing"][0];
  EXPECT_EQ(g["site"]["function"], "main");
  EXPECT_TRUE(ends_with(g["site"]["file"], std::string("/") + kSource));
  EXPECT_EQ(g["site"]["line"], marker_line(kSource, "@keep"));
  EXPECT_GT(g["bytes_per_s"].get<double>(), 100000.0);
  EXPECT_GE(g["confidence"].get<double>(), 0.99);
  EXPECT_LE(g["confidence"].get<double>(), 1.0);
}

TEST(GrowthCli, LeaksTextHasAGrowingSection) {
  const std::string& trace = growth_traces().keep;
  ASSERT_FALSE(trace.empty());
  const Outcome o = heapline({"leaks", trace});
  ASSERT_TRUE(o.ok()) << o.describe();
  const size_t section = o.out.find("\ngrowing: 1 sites");
  ASSERT_NE(section, std::string::npos) << o.out;
  const std::string where =
      std::string(kSource) + ":" + std::to_string(marker_line(kSource, "@keep"));
  EXPECT_NE(o.out.find(where, section), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("/s  confidence", section), std::string::npos) << o.out;
}

}  // namespace
}  // namespace heapline::lines_test

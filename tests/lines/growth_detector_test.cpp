// The growth detector on synthetic series: what is and is not "keeps growing".
#include "model/growth_detector.h"

#include <gtest/gtest.h>

#include <cmath>

namespace heapline::lines_test {
namespace {

using analysis::find_growing_sites;
using analysis::measure_trend;
using analysis::SiteIndex;
using analysis::SiteSeries;

constexpr size_t kSamples = 100;

// One site whose live bytes at sample i are f(i); 10 ms per sample (a one-second run).
std::vector<analysis::GrowingSite> judge(const std::function<uint64_t(size_t)>& f) {
  SiteIndex sites;
  sites.sites.push_back({"f", "/src/f.c", 7});
  SiteSeries series;
  series.slice_ns = 10'000'000;
  series.max_live.resize(1);
  for (size_t i = 0; i < kSamples; ++i) series.max_live[0].push_back(f(i));
  return find_growing_sites(sites, series);
}

TEST(GrowthDetector, TrendOfAStraightLine) {
  std::vector<uint64_t> v;
  for (uint64_t i = 0; i < 50; ++i) v.push_back(1000 + 3 * i);
  const analysis::Trend t = measure_trend(v, 0, v.size());
  EXPECT_DOUBLE_EQ(t.slope, 3.0);
  EXPECT_DOUBLE_EQ(t.tau, 1.0);
  EXPECT_GT(t.confidence, 0.999999);
  std::reverse(v.begin(), v.end());
  EXPECT_EQ(measure_trend(v, 0, v.size()).confidence, 0.0);
}

TEST(GrowthDetector, SteadyLeakIsFlaggedWithItsRate) {
  const auto g = judge([](size_t i) { return 1024 * i; });  // 1 KiB per 10 ms
  ASSERT_EQ(g.size(), 1u);
  EXPECT_NEAR(g[0].bytes_per_s, 102400.0, 1e-6);
  EXPECT_GT(g[0].confidence, 0.99);
  EXPECT_EQ(g[0].where.line, 7u);
}

TEST(GrowthDetector, LeakFreedJustBeforeExitIsStillFlagged) {
  const auto g = judge([](size_t i) { return i + 3 < kSamples ? 1024 * i : 0; });
  ASSERT_EQ(g.size(), 1u);
  EXPECT_NEAR(g[0].bytes_per_s, 102400.0, 1024.0);
}

TEST(GrowthDetector, NoisyLeakIsFlagged) {
  // Up 1 KiB per sample, with a +-3 KiB wobble (a buffer coming and going on top).
  const auto g = judge(
      [](size_t i) { return 4096 + 1024 * i + (i % 4 == 0 ? 3072 : 0) - (i % 5 == 0 ? 3072 : 0); });
  ASSERT_EQ(g.size(), 1u);
  EXPECT_NEAR(g[0].bytes_per_s, 102400.0, 20000.0);
}

TEST(GrowthDetector, CacheThatFillsThenStaysFlatIsNot) {
  EXPECT_TRUE(judge([](size_t i) { return 4096 * std::min<size_t>(i, 10); }).empty());
  EXPECT_TRUE(judge([](size_t i) { return 4096 * std::min<size_t>(i, 40); }).empty());
}

TEST(GrowthDetector, BufferThatGrowsAndIsReleasedIsNot) {
  EXPECT_TRUE(judge([](size_t i) { return i < 30 ? 8192 * i : 0; }).empty());
  EXPECT_TRUE(judge([](size_t i) { return i < 45 ? 8192 * i : 0; }).empty());
  // A buffer reused per request: grows and is released over and over.
  EXPECT_TRUE(judge([](size_t i) { return 8192 * (i % 10); }).empty());
}

TEST(GrowthDetector, FlatOrShrinkingOrTinyIsNot) {
  EXPECT_TRUE(judge([](size_t) { return 65536; }).empty());
  EXPECT_TRUE(judge([](size_t i) { return 1'000'000 - 1000 * i; }).empty());
  EXPECT_TRUE(judge([](size_t i) { return i % 2 ? 4096 : 0; }).empty());
  EXPECT_TRUE(judge([](size_t i) { return i / 10; }).empty());  // 9 bytes in a second
}

}  // namespace
}  // namespace heapline::lines_test

// `heapline plot`: the SVG is rendered to PNG by a real renderer (rsvg-convert) and looked at;
// its text must carry the peak, the axes' units and the legend's file:line; the CSV must hold the
// series, the peak included, in a bounded number of rows.
#include <gtest/gtest.h>

#include <cstdlib>
#include <regex>
#include <sstream>

#include "lines_harness.h"
#include "model/report_model.h"
#include "png_image.h"
#include "reports/text_report.h"

namespace heapline::lines_test {
namespace {

constexpr const char* kSource = "lines_growth.c";

std::string site(const char* marker) {
  return std::string(kSource) + ":" + std::to_string(marker_line(kSource, marker));
}

analysis::Summary summary_of(const std::string& trace) {
  return analysis::analyze_trace(trace, {}).summary;
}

// Renders `svg` to a PNG next to it; fails the test when the renderer is missing or fails.
PngImage render(const TempDir& dir, const std::string& svg) {
  const std::string png = dir.file("plot.png");
  const Outcome o = run({"rsvg-convert", "-o", png, svg});
  if (o.exit_code == 127)
    ADD_FAILURE()
        << "rsvg-convert not found: install Debian's librsvg2-bin (scripts/setup.sh does)";
  EXPECT_TRUE(o.ok()) << o.describe();
  return read_png(png);
}

std::vector<std::vector<std::string>> read_csv(const std::string& path) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(slurp(path));
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::string cell;
    std::istringstream fields(line);
    while (std::getline(fields, cell, ',')) cells.push_back(cell);
    if (!line.empty() && line.back() == ',') cells.emplace_back();
    rows.push_back(cells);
  }
  return rows;
}

TEST(Plot, SvgRendersWithPeakAxesAndLegend) {
  const std::string& trace = growth_traces().keep;
  ASSERT_FALSE(trace.empty());
  TempDir dir;
  const std::string svg_path = dir.file("mem.svg");
  const Outcome o = heapline({"plot", trace, "-o", svg_path, "--top", "3"});
  ASSERT_TRUE(o.ok()) << o.describe();
  const std::string svg = slurp(svg_path);
  const analysis::Summary s = summary_of(trace);

  // The peak, with its value as the reports print it and its time; units on both axes.
  char when[32];
  snprintf(when, sizeof when, "%.3f s", static_cast<double>(s.peak_time_ns) / 1e9);
  EXPECT_NE(svg.find("peak " + analysis::human_bytes(s.peak_bytes) + " at " + when),
            std::string::npos)
      << svg.substr(0, 3000);
  EXPECT_NE(svg.find(">time (s)<"), std::string::npos);
  EXPECT_NE(svg.find(">memory (MiB)<"), std::string::npos);
  // The legend names the stacked sites by file:line, the heaviest first.
  const size_t keep = svg.find(site("@keep")), cache = svg.find(site("@cache_alloc"));
  ASSERT_NE(keep, std::string::npos);
  ASSERT_NE(cache, std::string::npos);
  EXPECT_LT(keep, cache);
  EXPECT_NE(svg.find("RSS"), std::string::npos);

  std::smatch size;
  ASSERT_TRUE(
      std::regex_search(svg, size, std::regex("<svg [^>]*width=\"(\\d+)\" height=\"(\\d+)")));
  const PngImage png = render(dir, svg_path);
  EXPECT_EQ(png.width, std::stoul(size[1]));
  EXPECT_EQ(png.height, std::stoul(size[2]));
  EXPECT_EQ(png.width, 1100u);

  // Drawn, not blank: a fair share of non-white pixels, among them the first stacked site's
  // colour (#0072B2 at 85% over white) and the peak marker's red (#C0392B).
  size_t ink = 0, blue = 0, red = 0;
  for (const Rgb& p : png.pixels) {
    if (p.r < 235 || p.g < 235 || p.b < 235) ++ink;
    if (std::abs(p.r - 38) < 12 && std::abs(p.g - 135) < 12 && std::abs(p.b - 189) < 12) ++blue;
    if (std::abs(p.r - 192) < 10 && std::abs(p.g - 57) < 10 && std::abs(p.b - 43) < 10) ++red;
  }
  const size_t total = png.pixels.size();
  EXPECT_GT(ink, total / 50) << "ink " << ink << " of " << total;
  EXPECT_GT(blue, 2000u) << "the leak loop's area";
  EXPECT_GT(red, 30u) << "the peak marker";
}

TEST(Plot, CsvHoldsTheSeriesAndThePeak) {
  const std::string& trace = growth_traces().free_at_exit;
  ASSERT_FALSE(trace.empty());
  TempDir dir;
  const Outcome o = heapline({"plot", trace, "-o", dir.file("m.svg"), "--csv", dir.file("m.csv")});
  ASSERT_TRUE(o.ok()) << o.describe();
  const auto rows = read_csv(dir.file("m.csv"));
  ASSERT_GT(rows.size(), 100u);
  EXPECT_LE(rows.size(), 1001u);  // at most 1000 buckets + the header
  const std::vector<std::string>& header = rows[0];
  ASSERT_GE(header.size(), 5u);
  EXPECT_EQ(header[0], "time_s");
  EXPECT_EQ(header[1], "heap_bytes");
  EXPECT_EQ(header[2], "rss_bytes");
  EXPECT_EQ(header.back(), "other_bytes");
  EXPECT_EQ(header[3], site("@keep") + " main");

  const analysis::Summary s = summary_of(trace);
  uint64_t max_heap = 0;
  double max_time = 0, last_time = -1;
  size_t rss_rows = 0;
  for (size_t i = 1; i < rows.size(); ++i) {
    ASSERT_EQ(rows[i].size(), header.size()) << i;
    const double t = std::stod(rows[i][0]);
    EXPECT_GE(t, last_time);
    last_time = t;
    const uint64_t heap = std::stoull(rows[i][1]);
    uint64_t parts = 0;
    for (size_t c = 3; c < header.size(); ++c) parts += std::stoull(rows[i][c]);
    EXPECT_EQ(parts, heap) << "row " << i;  // the stack adds up to the heap
    if (!rows[i][2].empty()) ++rss_rows;
    if (heap > max_heap) {
      max_heap = heap;
      max_time = t;
    }
  }
  // Each bucket keeps its maximum: the peak is in the series exactly, at its time.
  EXPECT_EQ(max_heap, s.peak_bytes);
  EXPECT_NEAR(max_time, static_cast<double>(s.peak_time_ns) / 1e9, 1e-6);
  EXPECT_GT(rss_rows, 10u);  // the recorder samples RSS every 50 ms
}

TEST(Plot, ShortRunPlotsInMilliseconds) {
  TempDir dir;
  const std::string trace = trace_run(dir, {LINES_GROWTH, "fast"});
  ASSERT_FALSE(trace.empty());
  const Outcome o =
      heapline({"plot", trace, "-o", dir.file("short.svg"), "--csv", dir.file("short.csv")});
  ASSERT_TRUE(o.ok()) << o.describe();
  const std::string svg = slurp(dir.file("short.svg"));
  EXPECT_NE(svg.find(">time (ms)<"), std::string::npos);
  EXPECT_NE(svg.find("peak " + analysis::human_bytes(summary_of(trace).peak_bytes)),
            std::string::npos);
  const PngImage png = render(dir, dir.file("short.svg"));
  EXPECT_EQ(png.width, 1100u);
  EXPECT_LE(read_csv(dir.file("short.csv")).size(), 1001u);
}

TEST(Plot, BadOutputPathIsAnError) {
  const std::string& trace = growth_traces().keep;
  ASSERT_FALSE(trace.empty());
  const Outcome o = heapline({"plot", trace, "-o", "/nonexistent-dir/x.svg"});
  EXPECT_EQ(o.exit_code, 2) << o.describe();
  EXPECT_NE(o.err.find("cannot write /nonexistent-dir/x.svg"), std::string::npos) << o.err;
}

}  // namespace
}  // namespace heapline::lines_test

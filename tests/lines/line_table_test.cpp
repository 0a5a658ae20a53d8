// `heapline lines` on the known-truth program (tests/programs/lines_growth.c): exact figures per
// line, self and inclusive, over several windows; through the library and the CLI's JSON.
#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "lines_harness.h"
#include "model/line_analysis.h"
#include "model/line_selection.h"

namespace heapline::lines_test {
namespace {

using analysis::LineAnalysis;
using analysis::LineCost;
using analysis::LineEntry;
using analysis::WindowEnd;

constexpr const char* kSource = "lines_growth.c";
constexpr uint64_t kKiB = 1024;

struct Expected {
  uint64_t allocations, bytes_allocated, live_end, live_peak;
  int64_t increment;
};

// The entry of lines_growth.c:`line` (summed over functions, which is one here), or zeros.
LineEntry entry_at(const LineAnalysis& a, uint32_t line) {
  LineEntry sum;
  for (const LineEntry& e : a.lines) {
    if (e.where.line != line || !ends_with(e.where.file, std::string("/") + kSource)) continue;
    sum.where = e.where;
    for (auto [to, from] :
         {std::pair{&sum.self, &e.self}, std::pair{&sum.inclusive, &e.inclusive}}) {
      to->allocations += from->allocations;
      to->bytes_allocated += from->bytes_allocated;
      to->live_end_bytes += from->live_end_bytes;
      to->live_peak_bytes += from->live_peak_bytes;
      to->increment_bytes += from->increment_bytes;
    }
  }
  return sum;
}

void expect_cost(const LineCost& c, const Expected& e, const std::string& what) {
  EXPECT_EQ(c.allocations, e.allocations) << what;
  EXPECT_EQ(c.bytes_allocated, e.bytes_allocated) << what;
  EXPECT_EQ(c.live_end_bytes, e.live_end) << what;
  EXPECT_EQ(c.live_peak_bytes, e.live_peak) << what;
  EXPECT_EQ(c.increment_bytes, e.increment) << what;
}

LineAnalysis analyze(const std::string& trace, const std::string& from = "start",
                     const std::string& to = "end") {
  analysis::LineAnalysisOptions options;
  options.from = *analysis::parse_window_end(from);
  options.to = *analysis::parse_window_end(to);
  return analysis::analyze_lines(trace, options);
}

// Every marked line of the program, self and inclusive. `live`: whether the program kept its
// memory to the end; `window_is_peak`: increments over [start, peak] instead of [start, end].
void expect_program_lines(const LineAnalysis& a, bool live, bool window_is_peak) {
  const Expected none{0, 0, 0, 0, 0};
  auto with = [&](uint64_t allocs, uint64_t bytes, uint64_t at_peak, uint64_t at_end) {
    const uint64_t end = live ? at_end : 0;
    return Expected{allocs, bytes, end, at_peak,
                    static_cast<int64_t>(window_is_peak ? at_peak : end)};
  };
  const Expected keep = with(1000, 1000 * kKiB, 1000 * kKiB, 1000 * kKiB);
  const Expected temp = with(1000, 1000 * kKiB, 0, 0);
  const Expected cache = with(1000, 1000 * 2 * kKiB, 64 * 2 * kKiB, 64 * 2 * kKiB);
  const Expected big = with(1, 64 * kKiB, 64 * kKiB, 64 * kKiB);
  const Expected rec = with(1, 4 * kKiB, 4 * kKiB, 4 * kKiB);

  struct Line {
    const char* marker;
    Expected self, inclusive;
  };
  const Line lines[] = {
      {"@keep", keep, keep},
      {"@temp", temp, temp},
      {"@cache_alloc", cache, cache},
      {"@cache_call", none, cache},
      {"@big_alloc", big, big},
      {"@big_call", none, big},
      {"@rec_alloc", rec, rec},
      // On the stack three times (recursion), counted once.
      {"@rec_call", none, rec},
      {"@rec_call_main", none, rec},
  };
  for (const Line& l : lines) {
    const LineEntry e = entry_at(a, marker_line(kSource, l.marker));
    expect_cost(e.self, l.self, std::string(l.marker) + " self");
    expect_cost(e.inclusive, l.inclusive, std::string(l.marker) + " inclusive");
  }
}

TEST(LineTable, ExactFiguresPerLineSelfAndInclusive) {
  const std::string& trace = growth_traces().keep;
  ASSERT_FALSE(trace.empty());
  expect_program_lines(analyze(trace), /*live=*/true, /*window_is_peak=*/false);
}

TEST(LineTable, FreedBeforeExitHasNothingLiveAtTheEndButTheSamePeak) {
  const std::string& trace = growth_traces().free_at_exit;
  ASSERT_FALSE(trace.empty());
  expect_program_lines(analyze(trace), /*live=*/false, /*window_is_peak=*/false);
  expect_program_lines(analyze(trace, "start", "peak"), /*live=*/false, /*window_is_peak=*/true);
  // From the peak to the end, the leak loop's line gave back all it held.
  const LineAnalysis a = analyze(trace, "peak", "end");
  EXPECT_EQ(entry_at(a, marker_line(kSource, "@keep")).inclusive.increment_bytes,
            -static_cast<int64_t>(1000 * kKiB));
}

TEST(LineTable, IncrementsOverWindowsInSecondsAddUp) {
  const std::string& trace = growth_traces().keep;
  ASSERT_FALSE(trace.empty());
  const LineAnalysis whole = analyze(trace);
  const double mid_s = static_cast<double>(whole.summary.duration_ns) / 2e9;
  const std::string mid = std::to_string(mid_s);
  const LineAnalysis first = analyze(trace, "0", mid), second = analyze(trace, mid, "end");
  EXPECT_NEAR(static_cast<double>(first.to_ns) / 1e9, mid_s, 1e-6);
  ASSERT_EQ(first.lines.size(), whole.lines.size());
  ASSERT_EQ(second.lines.size(), whole.lines.size());
  const uint32_t keep = marker_line(kSource, "@keep"), cache = marker_line(kSource, "@cache_alloc");
  for (size_t i = 0; i < whole.lines.size(); ++i) {
    const LineEntry &w = whole.lines[i], &f = first.lines[i], &s = second.lines[i];
    ASSERT_EQ(w.where.line, f.where.line);
    // Nothing is live before the first record, so [0, mid] + [mid, end] = [start, end].
    EXPECT_EQ(f.inclusive.increment_bytes + s.inclusive.increment_bytes,
              w.inclusive.increment_bytes)
        << w.where.file << ":" << w.where.line;
    EXPECT_EQ(f.self.increment_bytes + s.self.increment_bytes, w.self.increment_bytes);
  }
  // The leak loop grows in both halves, by whole KiBs; the cache is full long before mid-run.
  const LineEntry keep_late = entry_at(second, keep);
  EXPECT_GT(keep_late.self.increment_bytes, static_cast<int64_t>(200 * kKiB));
  EXPECT_LT(keep_late.self.increment_bytes, static_cast<int64_t>(800 * kKiB));
  EXPECT_EQ(keep_late.self.increment_bytes % static_cast<int64_t>(kKiB), 0);
  EXPECT_EQ(entry_at(second, cache).self.increment_bytes, 0);
}

TEST(LineTable, WindowMustNotEndBeforeItStarts) {
  const std::string& trace = growth_traces().keep;
  ASSERT_FALSE(trace.empty());
  EXPECT_THROW(analyze(trace, "end", "0.1"), std::invalid_argument);
  const Outcome o = heapline({"lines", trace, "--top", "3", "--from", "peak", "--to", "0"});
  EXPECT_EQ(o.exit_code, 2) << o.describe();
  EXPECT_EQ(heapline({"lines", trace, "--from", "soon"}).exit_code, 2);
  EXPECT_FALSE(analysis::parse_window_end("-1").has_value());
  EXPECT_FALSE(analysis::parse_window_end("1s").has_value());
}

// The JSON contract: a list of lines, each with both attributions and their five figures.
TEST(LineTableCli, FunctionListingAsJson) {
  const std::string& trace = growth_traces().keep;
  ASSERT_FALSE(trace.empty());
  const nlohmann::json lines = heapline_json({"lines", trace, "--function", "main", "--json"});
  ASSERT_TRUE(lines.is_array());
  const uint32_t keep = marker_line(kSource, "@keep"), call = marker_line(kSource, "@cache_call");
  bool saw_keep = false, saw_call = false;
  for (const auto& l : lines) {
    for (const char* field : {"file", "line", "function", "self", "inclusive"})
      ASSERT_TRUE(l.contains(field)) << field << " in " << l.dump();
    EXPECT_EQ(l["function"], "main");
    for (const char* side : {"self", "inclusive"})
      for (const char* field : {"allocations", "bytes_allocated", "live_end_bytes",
                                "live_peak_bytes", "increment_bytes"})
        ASSERT_TRUE(l[side].contains(field)) << side << "." << field;
    if (l["line"] == keep) {
      saw_keep = true;
      EXPECT_EQ(l["self"]["allocations"], 1000);
      EXPECT_EQ(l["self"]["increment_bytes"], 1000 * kKiB);
      EXPECT_EQ(l["inclusive"]["live_end_bytes"], 1000 * kKiB);
    }
    if (l["line"] == call) {
      saw_call = true;
      EXPECT_EQ(l["self"]["allocations"], 0);
      EXPECT_EQ(l["inclusive"]["allocations"], 1000);
      EXPECT_EQ(l["inclusive"]["live_peak_bytes"], 128 * kKiB);
    }
  }
  EXPECT_TRUE(saw_keep && saw_call) << lines.dump(1);
}

TEST(LineTableCli, TopAndFileListings) {
  const std::string& trace = growth_traces().keep;
  ASSERT_FALSE(trace.empty());
  // Self by default for --top: the leak loop holds the most at the peak.
  const nlohmann::json top = heapline_json({"lines", trace, "--top", "2", "--json"});
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0]["line"], marker_line(kSource, "@keep"));
  EXPECT_EQ(top[1]["line"], marker_line(kSource, "@cache_alloc"));
  // --inclusive ranks callers too: main's line that calls cache_put comes right after @keep.
  const nlohmann::json inclusive =
      heapline_json({"lines", trace, "--top", "50", "--inclusive", "--json"});
  bool saw_call = false;
  for (const auto& l : inclusive) saw_call |= l["line"] == marker_line(kSource, "@cache_call");
  EXPECT_TRUE(saw_call);

  const nlohmann::json file = heapline_json({"lines", trace, "--file", kSource, "--json"});
  std::set<uint32_t> lines;
  for (const auto& l : file) {
    EXPECT_TRUE(ends_with(l["file"], std::string("/") + kSource));
    lines.insert(l["line"].get<uint32_t>());
  }
  for (const char* marker : {"@keep", "@temp", "@cache_alloc", "@cache_call", "@big_alloc",
                             "@big_call", "@rec_alloc", "@rec_call", "@rec_call_main"})
    EXPECT_TRUE(lines.count(marker_line(kSource, marker))) << marker;
}

TEST(LineTableCli, TextListingShowsTheSourceWithItsFigures) {
  const std::string& trace = growth_traces().keep;
  ASSERT_FALSE(trace.empty());
  const Outcome o = heapline({"lines", trace, "--function", "main"});
  ASSERT_TRUE(o.ok()) << o.describe();
  EXPECT_NE(o.out.find("inclusive"), std::string::npos);
  // The whole function, signature to closing brace, lines without figures left blank.
  EXPECT_NE(o.out.find("int main(int argc, char** argv) {"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("return 0;"), std::string::npos) << o.out;
  const std::string keep_row = "1000  1000.00 KiB  1000.00 KiB  1000.00 KiB  +1000.00 KiB";
  const size_t row = o.out.find(keep_row);
  ASSERT_NE(row, std::string::npos) << o.out;
  EXPECT_NE(o.out.find("@keep", row), std::string::npos);
  // A line without figures: its number, blanks, its source.
  const std::string usleep_line = std::to_string(marker_line(kSource, "@keep") + 2);
  EXPECT_TRUE(
      std::regex_search(o.out, std::regex("\n +" + usleep_line + " +if \\(!fast\\) usleep")))
      << o.out;
  const Outcome none = heapline({"lines", trace, "--function", "no_such_function"});
  EXPECT_TRUE(none.ok());
  EXPECT_NE(none.out.find("no allocation involved a function named 'no_such_function'"),
            std::string::npos);
}

TEST(LineTableCli, MissingSourceIsSaidAndFiguresStillShown) {
  TempDir dir;
  const std::string trace = trace_run(dir, {LINES_GROWTH_NOSRC, "fast"});
  ASSERT_FALSE(trace.empty());
  const Outcome o = heapline({"lines", trace, "--function", "main"});
  ASSERT_TRUE(o.ok()) << o.describe();
  EXPECT_NE(o.out.find("source not found: /nonexistent/heapline-src/lines_growth.c"),
            std::string::npos)
      << o.out;
  EXPECT_NE(o.out.find("1000  1000.00 KiB"), std::string::npos) << o.out;
}

}  // namespace
}  // namespace heapline::lines_test

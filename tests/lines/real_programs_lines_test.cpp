// Line tables of programs nobody here wrote (sqlite3 running a generated script, python3): the
// tables must account for every allocation and byte exactly once under self attribution, and
// inclusive figures must contain the self ones. These are the runs compared with heaptrack's
// per-function numbers by hand (see the report of issue 4).
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "lines_harness.h"
#include "model/line_analysis.h"
#include "model/timeline_analysis.h"

namespace heapline::lines_test {
namespace {

using analysis::LineAnalysis;

void expect_consistent(const LineAnalysis& a) {
  const analysis::Summary& s = a.summary;
  ASSERT_GT(s.allocations, 1000u);
  uint64_t allocations = 0, bytes = 0, at_peak = 0, at_end = 0;
  int64_t increment = 0;
  for (const analysis::LineEntry& e : a.lines) {
    allocations += e.self.allocations;
    bytes += e.self.bytes_allocated;
    at_peak += e.self.live_peak_bytes;
    at_end += e.self.live_end_bytes;
    increment += e.self.increment_bytes;
    // A stack is counted once per line: inclusive can never exceed the whole program.
    EXPECT_LE(e.inclusive.allocations, s.allocations);
    EXPECT_LE(e.inclusive.live_peak_bytes, s.peak_bytes);
    // Every stack whose site is this line also has this line on it.
    EXPECT_GE(e.inclusive.allocations, e.self.allocations) << e.where.function;
    EXPECT_GE(e.inclusive.bytes_allocated, e.self.bytes_allocated) << e.where.function;
  }
  EXPECT_EQ(allocations, s.allocations);
  EXPECT_EQ(bytes, s.bytes_allocated);
  EXPECT_EQ(at_peak, s.peak_bytes);
  EXPECT_EQ(at_end, s.leaked_bytes);
  EXPECT_EQ(increment, static_cast<int64_t>(s.leaked_bytes));  // window [start, end]
}

TEST(RealProgramLines, Sqlite3Script) {
  TempDir dir;
  const std::string script = dir.file("script.sql");
  {
    std::ofstream sql(script);
    sql << "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, v REAL);\nBEGIN;\n";
    for (int i = 0; i < 5000; ++i)
      sql << "INSERT INTO t(name, v) VALUES('name-" << i << "-" << std::string(i % 50, 'x') << "', "
          << i * 0.5 << ");\n";
    sql << "COMMIT;\nCREATE INDEX ti ON t(name);\n"
           "SELECT count(*), sum(v) FROM t WHERE name LIKE 'name-1%';\n";
  }
  const std::string trace = trace_run(dir, {"sqlite3", dir.file("db.sqlite")}, script);
  ASSERT_FALSE(trace.empty());
  const LineAnalysis a = analysis::analyze_lines(trace, {});
  expect_consistent(a);

  analysis::TimelineOptions options;
  const analysis::TimelineAnalysis t = analysis::analyze_timeline(trace, options);
  EXPECT_EQ(t.timeline.peak_bytes, a.summary.peak_bytes);
  EXPECT_LE(t.timeline.buckets.size(), 1000u);
  const Outcome o = heapline({"lines", trace, "--top", "5"});
  EXPECT_TRUE(o.ok()) << o.describe();
}

TEST(RealProgramLines, Python3) {
  TempDir dir;
  const std::string script = dir.file("work.py");
  std::ofstream(script) << "import json\n"
                           "rows = [{'id': i, 'name': 'n%d' % i, 'blob': 'x' * (i % 300)}"
                           " for i in range(20000)]\n"
                           "text = json.dumps(rows)\n"
                           "print(len(text))\n";
  const std::string trace = trace_run(dir, {"/usr/bin/python3", script});
  ASSERT_FALSE(trace.empty());
  const LineAnalysis a = analysis::analyze_lines(trace, {});
  expect_consistent(a);
  // python3 has no debug info: its functions are entries of their own (line 0), by the names of
  // its dynamic symbol table, as heaptrack shows them. The JSON text is joined in one piece.
  const nlohmann::json join =
      heapline_json({"lines", trace, "--function", "_PyUnicode_JoinArray", "--json"});
  ASSERT_FALSE(join.empty());
  uint64_t joined = 0;
  for (const auto& l : join) joined += l["self"]["bytes_allocated"].get<uint64_t>();
  EXPECT_GT(joined, 3'000'000u);
}

}  // namespace
}  // namespace heapline::lines_test

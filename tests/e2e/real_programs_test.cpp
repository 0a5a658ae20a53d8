// Programs nobody here wrote (sqlite3, python3, perl), each run with and without the recorder:
// stdout and exit status must be byte-identical, and the trace readable with allocations in it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "trace_contents.h"
#include "traced_process.h"

namespace heapline::e2e {
namespace {

// Runs the program both ways; checks sameness, a single readable trace and a clean exit record.
void run_both_ways(const std::string& program, const std::vector<std::string>& args,
                   const RunOptions& options = {}) {
  if (access(program.c_str(), X_OK) != 0) GTEST_SKIP() << program << " is not installed";
  TempDir dir;
  const RunResult plain = run_untraced(program, args, options);
  const RunResult traced = run_traced(dir, program, args, options);
  ASSERT_TRUE(plain.exited(0)) << plain.describe();
  EXPECT_TRUE(traced.exited(plain.exit_code)) << traced.describe();
  EXPECT_FALSE(plain.out.empty());
  EXPECT_EQ(traced.out, plain.out);
  EXPECT_EQ(traced.err, plain.err);
  ASSERT_EQ(traced.traces.size(), 1u);

  const TraceContents t = read_trace(traced.traces[0]);
  EXPECT_FALSE(t.truncated);
  EXPECT_EQ(t.header.pid, static_cast<uint32_t>(traced.pid));
  ASSERT_EQ(t.processes.size(), 1u);
  ASSERT_FALSE(t.processes[0].argv.empty());
  EXPECT_EQ(t.processes[0].argv[0], program);
  const EventCounts c = count_events(t);
  EXPECT_GT(c.allocations, 0u);
  EXPECT_GT(t.frees, 0u);
  EXPECT_EQ(t.lost_allocations, 0u);
  EXPECT_EQ(t.allocs_at_live_address, 0u);
  EXPECT_EQ(t.null_allocations, 0u);
  EXPECT_EQ(t.null_frees, 0u);
  ASSERT_EQ(t.exits.size(), 1u);
  EXPECT_EQ(t.exits[0].kind, format::ExitKind::kExit);
  EXPECT_EQ(t.exits[0].status, 0);
}

// Tables, a few thousand rows in one transaction, an index, joins and aggregates.
std::string sqlite_script() {
  std::string sql =
      "CREATE TABLE customer(id INTEGER PRIMARY KEY, name TEXT, city TEXT);\n"
      "CREATE TABLE orders(id INTEGER PRIMARY KEY, customer INTEGER, amount REAL, note TEXT);\n"
      "BEGIN;\n";
  for (int i = 1; i <= 500; ++i)
    sql += "INSERT INTO customer VALUES(" + std::to_string(i) + ", 'customer " + std::to_string(i) +
           "', 'city" + std::to_string(i % 17) + "');\n";
  for (int i = 1; i <= 4000; ++i)
    sql += "INSERT INTO orders VALUES(" + std::to_string(i) + ", " + std::to_string(i % 500 + 1) +
           ", " + std::to_string((i * 37) % 1000) + ".25, printf('%0" + std::to_string(i % 50 + 1) +
           "d', " + std::to_string(i) + "));\n";
  sql +=
      "COMMIT;\n"
      "CREATE INDEX orders_by_customer ON orders(customer);\n"
      "SELECT count(*), sum(amount), max(length(note)) FROM orders;\n"
      "SELECT c.city, count(*), round(sum(o.amount), 2) FROM orders o JOIN customer c\n"
      "  ON o.customer = c.id GROUP BY c.city ORDER BY c.city;\n"
      "SELECT name FROM customer WHERE id IN (SELECT customer FROM orders\n"
      "  GROUP BY customer ORDER BY sum(amount) DESC, customer LIMIT 5);\n"
      "UPDATE orders SET note = upper(note) || note WHERE id % 3 = 0;\n"
      "DELETE FROM orders WHERE amount < 100;\n"
      "SELECT count(*), sum(length(note)) FROM orders;\n";
  return sql;
}

TEST(RealProgramsTest, Sqlite3) {
  TempDir scripts;
  RunOptions options;
  options.stdin_path = scripts.write_file("script.sql", sqlite_script());
  run_both_ways("/usr/bin/sqlite3", {"-batch", ":memory:"}, options);
}

constexpr const char* kPythonScript = R"(
import collections, json
words = ['w%d' % (i * 7919 % 5003) for i in range(20000)]
counts = collections.Counter(words)
table = {k: [v] * (v % 5 + 1) for k, v in counts.items()}
text = json.dumps(sorted(table.items())[:50])
print(len(counts), sum(len(v) for v in table.values()), len(text))
print(sorted(counts.most_common(3)))
)";

// /usr/bin/python3 explicitly: a python3 earlier on PATH may be a shell-script shim.
TEST(RealProgramsTest, Python3) { run_both_ways("/usr/bin/python3", {"-c", kPythonScript}); }

TEST(RealProgramsTest, Python3WithPythonMallocMalloc) {
  RunOptions options;
  options.env = {{"PYTHONMALLOC", "malloc"}};
  run_both_ways("/usr/bin/python3", {"-c", kPythonScript}, options);
}

TEST(RealProgramsTest, PerlHash) {
  run_both_ways("/usr/bin/perl",
                {"-e",
                 "my %h; $h{\"key$_\"} = $_ * 2 for 1..30000; my $s = 0; $s += $_ for values %h;"
                 " print scalar(keys %h), \" $s\\n\";"});
}

}  // namespace
}  // namespace heapline::e2e

// Differential check against heaptrack: programs nobody here wrote (sqlite3, python3, perl, git)
// run once under heaptrack and once under `heapline run`, same inputs, and the figures both
// tools print must agree: allocation count, peak heap and leaked bytes. README.md, section
// "Differential check against heaptrack", explains each difference this test allows and shows
// the figures measured; this test prints the same table (one row per program) on stdout.
//
// What makes the two runs comparable (each was a real difference before it was controlled):
//  - The environment. `heapline run` adds LD_PRELOAD, HEAPLINE_OUTPUT and HEAPLINE_MANIFEST to
//    the target's environment and keeps them; heaptrack's preload removes its own variables at
//    start. Programs copy their environment (git's setenv() reallocates `environ`: 8 bytes per
//    variable; perl builds %ENV: ~5 allocations per variable), so both runs start from the same
//    minimal environment, and heaptrack's gets three stand-ins of exactly the same lengths.
//  - Hash seeds: perl and python randomize their hash tables per run (PERL_HASH_SEED=0,
//    PERL_PERTURB_KEYS=0, PYTHONHASHSEED=0), and python's own allocator hides most allocations
//    from both tools (PYTHONMALLOC=malloc).
//  - heaptrack suppresses known glibc leaks (nss) by default: compared without suppressions.
//  - heaptrack prints three significant digits with K = 1000 bytes (not 1024): heapline's exact
//    figure must round to what heaptrack printed.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>

#include <gtest/gtest.h>

#include "analysis_harness.h"

namespace heapline::analysis_test {
namespace {

namespace fs = std::filesystem;

constexpr const char* kHeaptrack = "/usr/bin/heaptrack";
constexpr const char* kHeaptrackPrint = "/usr/bin/heaptrack_print";

// A figure heaptrack printed: value and unit ("696.05K" = 696.05 x 1000 bytes).
struct Printed {
  double value = -1;
  double unit = 1;
  std::string text;
  // Whether `exact` bytes print as this (two decimals, or an integer of bytes).
  bool matches(uint64_t exact) const {
    return std::fabs(static_cast<double>(exact) / unit - value) <= (unit == 1 ? 0.0 : 0.005) + 1e-9;
  }
  double bytes() const { return value * unit; }
};

struct HeaptrackFigures {
  uint64_t allocations = 0;
  Printed peak, leaked;
};

Printed parse_size(const std::string& text) {
  Printed p;
  p.text = text;
  std::smatch m;
  static const std::regex re(R"(^([0-9.]+)([BKMGT])$)");
  if (!std::regex_match(text, m, re)) return p;
  p.value = std::stod(m[1]);
  const char u = m[2].str()[0];
  p.unit = u == 'B' ? 1 : u == 'K' ? 1e3 : u == 'M' ? 1e6 : u == 'G' ? 1e9 : 1e12;
  return p;
}

HeaptrackFigures parse_heaptrack_print(const std::string& out) {
  HeaptrackFigures f;
  std::smatch m;
  if (std::regex_search(out, m, std::regex(R"(calls to allocation functions: (\d+))")))
    f.allocations = std::stoull(m[1]);
  if (std::regex_search(out, m, std::regex(R"(peak heap memory consumption: (\S+))")))
    f.peak = parse_size(m[1]);
  if (std::regex_search(out, m, std::regex(R"(total memory leaked: (\S+))")))
    f.leaked = parse_size(m[1]);
  return f;
}

struct Case {
  const char* name;
  std::vector<std::string> argv;  // argv[0] an absolute path
  std::string stdin_path = "/dev/null";
  // By default the counts must be equal and the byte figures must print as heaptrack printed
  // them. Explained exceptions: how many more allocations heapline may count, and a peak that
  // varies from run to run under either tool (then within 1%).
  uint64_t extra_allocations = 0;
  bool peak_varies = false;
};

class HeaptrackDiff : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    inputs_ = new ScratchDir;
    // sqlite3: a few thousand inserts, an index, two hundred queries.
    std::ofstream sql(inputs_->file("script.sql"));
    sql << "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, v REAL);\nBEGIN;\n";
    for (int i = 0; i < 3000; ++i)
      sql << "INSERT INTO t(name, v) VALUES('name-" << i << "-" << std::string(i % 50, 'x')
          << "', " << i * 0.5 << ");\n";
    sql << "COMMIT;\nCREATE INDEX ti ON t(name);\n";
    for (int i = 0; i < 200; ++i)
      sql << "SELECT count(*), sum(v) FROM t WHERE name LIKE 'name-" << i << "%';\n";
    sql << "SELECT name FROM t ORDER BY v DESC LIMIT 5;\n";
    sql.close();
    std::ofstream py(inputs_->file("small.py"));
    py << "import json, re, collections\n"
          "data = [{'id': i, 'name': 'item%d' % i, 'tags': ['t%d' % (i % 7)] * (i % 5)}"
          " for i in range(3000)]\n"
          "text = json.dumps(data)\n"
          "back = json.loads(text)\n"
          "counts = collections.Counter(t for d in back for t in d['tags'])\n"
          "print(len(back), sum(counts.values()), len(re.findall(r'item\\d+', text)))\n";
    py.close();
    // A small git repository with five commits (made without the recorder).
    const std::string repo = inputs_->file("repo");
    fs::create_directory(repo);
    auto git = [&](std::vector<std::string> args) {
      args.insert(args.begin(), {"/usr/bin/git", "-C", repo, "-c", "user.name=heapline",
                                 "-c", "user.email=heapline@example.invalid"});
      const Outcome o = run_program(args, {});
      ASSERT_TRUE(o.exited(0)) << o.describe();
    };
    git({"init", "-q"});
    for (int i = 1; i <= 5; ++i) {
      std::ofstream(repo + "/f" + std::to_string(i)) << i << "\n";
      git({"add", "f" + std::to_string(i)});
      git({"commit", "-q", "-m", "commit " + std::to_string(i)});
    }
  }
  static void TearDownTestSuite() {
    delete inputs_;
    inputs_ = nullptr;
  }

  void SetUp() override {
    if (access(kHeaptrack, X_OK) != 0 || access(kHeaptrackPrint, X_OK) != 0)
      GTEST_SKIP() << "heaptrack is not installed";
  }

  void compare(const Case& c);

  static ScratchDir* inputs_;
};

ScratchDir* HeaptrackDiff::inputs_ = nullptr;

void HeaptrackDiff::compare(const Case& c) {
  ScratchDir dir;
  const std::string cwd = fs::current_path().string();
  const Env base = {{"PATH", "/usr/bin:/bin"}, {"HOME", dir.path()}, {"LANG", "C.UTF-8"},
                    {"PERL_HASH_SEED", "0"},   {"PERL_PERTURB_KEYS", "0"},
                    {"PYTHONHASHSEED", "0"},   {"PYTHONMALLOC", "malloc"}};
  RunSpec spec;
  spec.inherit_env = false;
  spec.stdin_path = c.stdin_path;
  spec.timeout_s = 120;
  const std::string trace_pattern = dir.file("hl.%p.trace");

  // heapline run: the target sees base + PWD + LD_PRELOAD, HEAPLINE_OUTPUT, HEAPLINE_MANIFEST.
  std::vector<std::string> hl_argv = {heapline_cli(), "run", "-o", trace_pattern, "--"};
  hl_argv.insert(hl_argv.end(), c.argv.begin(), c.argv.end());
  Env hl_env = base;
  hl_env.push_back({"PWD", cwd});
  const Outcome hl = run_program(hl_argv, hl_env, spec);
  ASSERT_TRUE(hl.exited(0)) << hl.describe();
  const std::vector<std::string> traces = dir.traces();
  ASSERT_EQ(traces.size(), 1u) << hl.err;
  const Report r = analysis::analyze_trace(traces[0], {});
  ASSERT_TRUE(r.complete) << describe(r);

  // heaptrack: the target sees base + PWD (its /bin/sh script exports it) + three stand-ins of
  // the same lengths for heapline's variables (its own it removes from the environment).
  Env ht_env = base;
  ht_env.push_back({"XX_PRELOAD", preload_library()});  // same length as "LD_PRELOAD"
  ht_env.push_back({"HEAPLINE_OUTPUT", trace_pattern});  // no LD_PRELOAD: nothing is written
  ht_env.push_back({"HEAPLINE_MANIFEST", "/tmp/heapline-run-XXXXXX"});  // as mkstemp makes it
  std::vector<std::string> ht_argv = {kHeaptrack, "-o", dir.file("ht")};
  ht_argv.insert(ht_argv.end(), c.argv.begin(), c.argv.end());
  const Outcome ht = run_program(ht_argv, ht_env, spec);
  ASSERT_TRUE(ht.exited(0)) << ht.describe() << ht.out;
  const Outcome printed = run_program(
      {kHeaptrackPrint, "--disable-builtin-suppressions", "-f", dir.file("ht.zst")}, base,
      spec);
  ASSERT_TRUE(printed.exited(0)) << printed.describe();
  const HeaptrackFigures h = parse_heaptrack_print(printed.out);
  ASSERT_GT(h.allocations, 0u) << printed.out;
  ASSERT_GE(h.peak.value, 0) << printed.out;
  ASSERT_GE(h.leaked.value, 0) << printed.out;

  const auto& s = r.summary;
  printf("| %s | %llu | %llu | %llu | %s | %llu | %s |\n", c.name,
         static_cast<unsigned long long>(s.allocations),
         static_cast<unsigned long long>(h.allocations),
         static_cast<unsigned long long>(s.peak_bytes), h.peak.text.c_str(),
         static_cast<unsigned long long>(s.leaked_bytes), h.leaked.text.c_str());
  fflush(stdout);

  EXPECT_GE(s.allocations, h.allocations);
  EXPECT_LE(s.allocations, h.allocations + c.extra_allocations);
  if (c.peak_varies) {
    EXPECT_LE(std::fabs(static_cast<double>(s.peak_bytes) - h.peak.bytes()), 0.01 * h.peak.bytes())
        << s.peak_bytes << " vs " << h.peak.text;
  } else {
    EXPECT_TRUE(h.peak.matches(s.peak_bytes)) << s.peak_bytes << " vs " << h.peak.text;
  }
  EXPECT_TRUE(h.leaked.matches(s.leaked_bytes)) << s.leaked_bytes << " vs " << h.leaked.text;
  EXPECT_EQ(s.lost_allocations, 0u);
}

TEST_F(HeaptrackDiff, Sqlite3) {
  compare({"sqlite3 (3000 inserts, 200 queries)", {"/usr/bin/sqlite3", ":memory:"},
           inputs_->file("script.sql")});
}

// Python's peak moves by a few hundred bytes from run to run under either tool (out of 5 MB);
// its counts and leaks do not.
TEST_F(HeaptrackDiff, Python3) {
  Case c{"python3 (json, re, collections)", {"/usr/bin/python3", inputs_->file("small.py")}};
  c.peak_varies = true;
  compare(c);
}

// Perl builds %ENV from the environment; its hash table splits only when the key that fills it
// collides, which depends on the order of the environment. heaptrack's /bin/sh launcher reorders
// it; `heapline run` appends its three variables last. In this environment that costs heapline
// one 256-byte realloc more; replaying heaptrack's order under the recorder gives heaptrack's
// count exactly (README).
TEST_F(HeaptrackDiff, Perl) {
  Case c{"perl (20 000 hash entries)",
         {"/usr/bin/perl", "-e",
          "my %h; for my $i (1..20000) { $h{\"k$i\"} = \"v\" x ($i % 100); } "
          "my $s = join(',', map { length } values %h); print length($s), \"\\n\";"}};
  c.extra_allocations = 1;
  compare(c);
}

TEST_F(HeaptrackDiff, GitVersion) { compare({"git --version", {"/usr/bin/git", "--version"}}); }

TEST_F(HeaptrackDiff, GitLog) {
  compare({"git log (5 commits)", {"/usr/bin/git", "-C", inputs_->file("repo"), "log"}});
}

}  // namespace
}  // namespace heapline::analysis_test

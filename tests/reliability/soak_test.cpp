// Soak (ctest label "soak", and skipped unless HEAPLINE_SOAK=1): 10 million and 100 million
// events (tests/programs/rel_events.c) are recorded, counted exactly, and analyzed by
// `heapline report`, whose peak RSS must not grow with the event count: the model keeps live
// blocks and distinct stacks, and the reader streams chunk by chunk.
//
//   HEAPLINE_SOAK=1 ctest --test-dir build -L soak --output-on-failure
//
// Prints one line per size for docs/reliability.md.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "reliability_support.h"

namespace heapline::reliability {
namespace {

using e2e::RunOptions;
using e2e::RunResult;
using e2e::TempDir;

double seconds_now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

struct Analysis {
  int status = -1;
  long max_rss_kib = 0;       // all resident pages, file-backed ones (libraries, debug info) too
  long max_anon_rss_kib = 0;  // the analyzer's own memory: anonymous pages, sampled every 5 ms
  double seconds = 0;
};

// RssAnon of `pid` in KiB, or 0 once it is gone.
long anon_rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("RssAnon:", 0) == 0) return std::stol(line.substr(8));
  return 0;
}

// Runs `heapline report TRACE` (stdout discarded) and measures its peak RSS with wait4, and its
// peak anonymous RSS by sampling. The file-backed part of the peak varies from run to run with
// when the debug info of libc is read (on a second thread, while the trace is), so the bound on
// memory is checked on the anonymous part.
Analysis analyze_and_measure(const std::string& trace) {
  Analysis a;
  const double start = seconds_now();
  const pid_t pid = fork();
  if (pid == 0) {
    const int null = open("/dev/null", O_WRONLY);
    dup2(null, STDOUT_FILENO);
    execl(HEAPLINE_CLI, HEAPLINE_CLI, "report", trace.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  rusage usage{};
  while (pid > 0 && wait4(pid, &status, WNOHANG, &usage) == 0) {
    a.max_anon_rss_kib = std::max(a.max_anon_rss_kib, anon_rss_kib(pid));
    usleep(5000);
  }
  if (pid > 0 && (WIFEXITED(status) || WIFSIGNALED(status))) {
    a.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    a.max_rss_kib = usage.ru_maxrss;
  }
  a.seconds = seconds_now() - start;
  return a;
}

struct SoakResult {
  uint64_t events = 0;
  double record_seconds = 0;
  uint64_t trace_bytes = 0;
  Analysis analysis;
};

SoakResult soak(uint64_t events) {
  SoakResult s;
  s.events = events;
  TempDir dir;
  RunOptions options;
  options.timeout_ms = 30 * 60 * 1000;
  const double start = seconds_now();
  const RunResult r = run_traced(dir, REL_EVENTS, {std::to_string(events)}, options);
  s.record_seconds = seconds_now() - start;
  EXPECT_TRUE(r.exited(0)) << r.describe();
  EXPECT_EQ(heapline_lines(r.err), std::vector<std::string>{});
  EXPECT_EQ(r.out, "events " + std::to_string(events) + "\n");
  EXPECT_EQ(r.traces.size(), 1u);
  if (r.traces.size() != 1) return s;
  struct stat st {};
  stat(r.traces[0].c_str(), &st);
  s.trace_bytes = static_cast<uint64_t>(st.st_blocks) * 512;

  // Exact: events/2 allocations, events/2 frees, nothing lost, nothing live.
  const TraceTally t = tally_trace(r.traces[0]);
  uint64_t program_allocs = 0, program_frees = 0;
  for (const auto& [size, tally] : t.sizes) {
    if (size < 16 || size >= 16 + 4096) continue;  // the program's range of sizes
    program_allocs += tally.allocations;
    program_frees += tally.frees;
  }
  // A few allocations of the C runtime fall in the same range (stdout's buffer, ...).
  EXPECT_GE(program_allocs, events / 2);
  EXPECT_LE(program_allocs, events / 2 + 8);
  EXPECT_GE(program_frees, events / 2);
  EXPECT_EQ(t.lost_allocations + t.lost_frees, 0u);
  EXPECT_EQ(t.allocs_at_live_address, 0u);
  EXPECT_FALSE(t.truncated);
  EXPECT_TRUE(t.ended_by_exit(0));

  s.analysis = analyze_and_measure(r.traces[0]);
  EXPECT_EQ(s.analysis.status, 0);
  printf("soak: %llu events: recorded in %.1f s, trace %.1f MiB on disk, report in %.1f s with "
         "peak RSS %.1f MiB (anonymous %.1f MiB)\n",
         static_cast<unsigned long long>(events), s.record_seconds,
         static_cast<double>(s.trace_bytes) / 1048576.0, s.analysis.seconds,
         static_cast<double>(s.analysis.max_rss_kib) / 1024.0,
         static_cast<double>(s.analysis.max_anon_rss_kib) / 1024.0);
  fflush(stdout);
  return s;
}

TEST(Soak, HundredMillionEventsAnalyzedInMemoryThatDoesNotGrowWithThem) {
  if (!getenv("HEAPLINE_SOAK")) GTEST_SKIP() << "set HEAPLINE_SOAK=1 to run the soak";
  const SoakResult small = soak(10'000'000);
  const SoakResult large = soak(100'000'000);
  ASSERT_GT(small.analysis.max_anon_rss_kib, 0);
  ASSERT_GT(large.analysis.max_anon_rss_kib, 0);
  // Ten times the events, about the same memory (streaming reader, bounded model).
  EXPECT_LT(large.analysis.max_anon_rss_kib, small.analysis.max_anon_rss_kib * 3 / 2)
      << "10M events: " << small.analysis.max_anon_rss_kib << " KiB, 100M events: "
      << large.analysis.max_anon_rss_kib << " KiB (anonymous)";
  // All of it, file-backed pages too, within a bound that growth with the events would break
  // (0.2 bytes an event would be 18 MiB more).
  EXPECT_LT(large.analysis.max_rss_kib, small.analysis.max_rss_kib + 16 * 1024);
  RecordProperty("rss_kib_10M", std::to_string(small.analysis.max_rss_kib));
  RecordProperty("rss_kib_100M", std::to_string(large.analysis.max_rss_kib));
  RecordProperty("anon_rss_kib_10M", std::to_string(small.analysis.max_anon_rss_kib));
  RecordProperty("anon_rss_kib_100M", std::to_string(large.analysis.max_anon_rss_kib));
}

}  // namespace
}  // namespace heapline::reliability

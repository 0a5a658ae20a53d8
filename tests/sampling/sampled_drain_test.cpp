// Sampling mode's drain thread waits until the ring needs it (preload/sampled_drain.h). Until then
// a run's records stay in the ring, its RSS samples come from its sample points and an exiting
// thread's name from the thread itself, and a SIGKILL leaves every sample readable; once chunks
// fill up, the thread starts and compresses them (sampled_bookkeeping_test).
#include <gtest/gtest.h>
#include <signal.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "heapline/trace_format.h"
#include "reader/records.h"
#include "reader/trace_reader.h"
#include "trace_contents.h"
#include "traced_process.h"

namespace heapline::e2e {
namespace {

// The drain thread starts anyway once a run has lasted this long (kSampledDrainAfterMs).
constexpr uint64_t kDrainAfterNs = 1000ull * 1000 * 1000;

// What TraceContents leaves out: RSS samples, thread names, when the process ended.
struct Upkeep final : analysis::RecordVisitor {
  std::vector<uint64_t> rss_times;
  std::map<uint32_t, std::string> names;  // tid -> last name
  uint64_t exit_time = 0;
  size_t frames = 0;
  void on_rss(const analysis::RssRecord& r) override { rss_times.push_back(r.time_ns); }
  void on_thread_name(const analysis::ThreadNameRecord& r) override {
    names[r.tid] = std::string(r.name);
  }
  void on_exit(const analysis::ExitRecord& r) override { exit_time = r.time_ns; }
};

// The drain thread, once started, names every thread, itself included, at its first pass.
bool drain_thread_ran(const Upkeep& u) {
  if (u.frames > 0) return true;
  for (const auto& [tid, name] : u.names)
    if (name == "heapline-drain") return true;
  return false;
}

Upkeep read_upkeep(const std::string& path) {
  analysis::TraceReader reader(path);
  Upkeep u;
  reader.read(u);
  u.frames = reader.info().frames;
  return u;
}

RunResult run_sampled(const TempDir& dir, const std::vector<std::string>& args,
                      EnvVars extra = {}) {
  RunOptions options;
  options.env = {{"HEAPLINE_SAMPLE_BYTES", "16384"}, {"HEAPLINE_SAMPLE_SEED", "5"}};
  for (auto& kv : extra) options.env.push_back(kv);
  return run_traced(dir, SAMPLING_WORKLOAD, args, options);
}

// A sampled run that should end before its drain thread starts: it exited cleanly with one
// trace, and the thread never ran. Skips the test when the run lasted long enough for the
// thread to start by the clock (a loaded machine), as nothing can then be told.
struct RunWithoutDrain {
  RunResult run;
  Upkeep upkeep;
};
void run_without_drain(const TempDir& dir, const std::vector<std::string>& args, EnvVars extra,
                       RunWithoutDrain* out) {
  out->run = run_sampled(dir, args, std::move(extra));
  ASSERT_TRUE(out->run.exited(0)) << out->run.describe();
  ASSERT_EQ(out->run.traces.size(), 1u);
  out->upkeep = read_upkeep(out->run.traces[0]);
  if (out->upkeep.exit_time >= kDrainAfterNs)
    GTEST_SKIP() << "run too slow (loaded machine) to tell";
  EXPECT_FALSE(drain_thread_ran(out->upkeep));
}

// A thread that allocates and exits seals its chunk: that alone no longer starts the drain
// thread (it did, and cost a two-thread run ~4 ms of CPU and a third thread on the CPUs).
TEST(SampledDrain, AnExitedThreadLeavesItsChunkAndNameWithoutADrainPass) {
  TempDir dir;
  RunWithoutDrain quiet;
  run_without_drain(dir, {"200000", "thread"}, {}, &quiet);
  if (IsSkipped() || HasFatalFailure()) return;
  const RunResult& r = quiet.run;
  const Upkeep& u = quiet.upkeep;
  // The worker's 64-byte blocks (~780 sampled) are its own; its name came from its exit.
  const TraceContents t = read_trace(r.traces[0]);
  uint32_t worker = 0;
  size_t small = 0;
  for (const Allocation& a : t.allocations) {
    if (a.size != 64) continue;
    ++small;
    worker = a.tid;
  }
  EXPECT_GT(small, 600u);
  EXPECT_LT(small, 1000u);
  ASSERT_NE(worker, 0u);
  EXPECT_NE(worker, t.processes.at(0).pid) << "the small blocks were the main thread's";
  ASSERT_TRUE(u.names.count(worker)) << "no name for the exited thread";
  EXPECT_EQ(u.names.at(worker), "sampled-worker");
  EXPECT_EQ(t.unmatched_frees, 0u);
  EXPECT_EQ(t.lost_allocations + t.lost_frees, 0u);
}

// Before the drain thread starts, the sample points take the RSS samples at its interval: the
// first sample point at least an interval after the last RSS sample takes the next one, so no
// allocation is recorded between an interval past one RSS sample and the next RSS sample, and no
// two come within an interval. (Counted against the samples, not the clock: on a loaded machine
// the program may not run, or allocate, for many intervals.)
TEST(SampledDrain, SamplePointsTakeTheRssSamplesWhileTheThreadWaits) {
  TempDir dir;
  RunWithoutDrain quiet;
  run_without_drain(dir, {"3000000"}, {{"HEAPLINE_RSS_MS", "2"}}, &quiet);
  if (IsSkipped() || HasFatalFailure()) return;
  const RunResult& r = quiet.run;
  const Upkeep& u = quiet.upkeep;
  const TraceContents t = read_trace(r.traces[0]);
  // 3 M blocks of 64 bytes at 16 KiB: a sample point every ~256 allocations, ~12000 in all,
  // over at least ~30 ms of CPU time, so over 15 intervals.
  ASSERT_GT(t.allocations.size(), 10000u);
  ASSERT_GE(u.rss_times.size(), 5u);
  const uint64_t tick = 1ull << format::kTimeShift;
  const uint64_t interval = (2000000ull >> format::kTimeShift) << format::kTimeShift;
  // The last one is the exit's own, which comes when the exit does.
  for (size_t i = 1; i + 1 < u.rss_times.size(); ++i)
    EXPECT_GE(u.rss_times[i] - u.rss_times[i - 1], interval) << "two RSS samples in one interval";
  size_t missed = 0, next = 0;
  for (const Allocation& a : t.allocations) {
    while (next < u.rss_times.size() && u.rss_times[next] <= a.time_ns) ++next;
    if (next == 0 || next == u.rss_times.size()) continue;  // before the first, after the last
    missed += a.time_ns >= u.rss_times[next - 1] + interval + tick;
  }
  EXPECT_EQ(missed, 0u) << "sample points went by an RSS sample that was due";
}

// SIGKILL with the drain thread never started: the samples are all in the ring, which the reader
// reads as such. 20000 live blocks of 777 bytes at a 4 KiB interval: p = 1 - exp(-777/4096)
// = 0.173, so 3455 sampled, sd 53.
TEST(SampledDrain, ASigkilledSampledRunLeavesItsSamplesInTheRing) {
  TempDir dir;
  RunOptions options;
  options.env = {{"HEAPLINE_SAMPLE_BYTES", "4096"}, {"HEAPLINE_SAMPLE_SEED", "11"}};
  RunningProgram program(EXIT_PATHS_PROGRAM, {"wait", "20000"}, preload_library(),
                         dir.file("t.%p.trace"), options);
  ASSERT_TRUE(program.wait_for_stdout("ready 20000\n", 30000));
  ASSERT_EQ(kill(program.pid(), SIGKILL), 0);
  const RunResult r = program.wait(10000);
  EXPECT_TRUE(r.killed_by(SIGKILL)) << r.describe();
  const auto traces = dir.traces();
  ASSERT_EQ(traces.size(), 1u);
  const TraceContents t = read_trace(traces[0]);
  EXPECT_FALSE(t.truncated);
  EXPECT_TRUE(t.exits.empty());
  EXPECT_EQ(t.frames, 0u) << "the drain thread ran";
  EXPECT_GE(t.ring_chunks, 1u);
  size_t sampled = 0, freed = 0;
  for (const Allocation& a : t.allocations) {
    if (a.size != 777) continue;
    ++sampled;
    freed += a.freed_by.has_value();
  }
  EXPECT_GT(sampled, 3455u - 4 * 53);
  EXPECT_LT(sampled, 3455u + 4 * 53);
  EXPECT_EQ(freed, 0u);
  EXPECT_EQ(t.lost_allocations + t.lost_frees, 0u);
}

}  // namespace
}  // namespace heapline::e2e

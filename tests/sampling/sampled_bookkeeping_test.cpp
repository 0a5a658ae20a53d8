// The recorder's bookkeeping in sampling mode, against exact counts of the trace: which frees it
// records (only those of sampled blocks, however many there were), and what a short sampled run
// leaves behind when it exits without a drain pass (everything it recorded, read from the ring).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>
#include <utility>

#include "cli/commands.h"
#include "model/report_model.h"
#include "trace_contents.h"
#include "traced_process.h"

namespace heapline::e2e {
namespace {

RunResult run_sampled(const TempDir& dir, uint64_t interval, uint64_t seed,
                      const std::vector<std::string>& args) {
  RunOptions options;
  options.env = {{"HEAPLINE_SAMPLE_BYTES", std::to_string(interval)},
                 {"HEAPLINE_SAMPLE_SEED", std::to_string(seed)}};
  return run_traced(dir, SAMPLING_WORKLOAD, args, options);
}

// 1.2 million 64-byte blocks at a 32-byte interval: 86% are sampled, over a million samples.
// The set of sampled blocks holds the live ones only (here one at a time), so it never fills
// up; if it did, frees would be recorded whether sampled or not and show up as unmatched.
// The recorded blocks of `size`, and how many of them have their free recorded.
std::pair<size_t, size_t> blocks_of_size(const TraceContents& t, uint64_t size) {
  size_t blocks = 0, freed = 0;
  for (const Allocation& a : t.allocations) {
    if (a.size != size) continue;
    ++blocks;
    freed += a.freed_by.has_value();
  }
  return {blocks, freed};
}

TEST(SampledBookkeeping, FreesOfUnsampledBlocksStayUnrecordedPastAMillionSamples) {
  TempDir dir;
  const RunResult r = run_sampled(dir, 32, 3, {"1200000"});
  ASSERT_TRUE(r.exited(0)) << r.describe();
  ASSERT_EQ(r.traces.size(), 1u);
  const TraceContents t = read_trace(r.traces[0]);
  const auto [small, small_freed] = blocks_of_size(t, 64);
  // p = 1 - exp(-2) = 0.865 per block; 1.2 M blocks: 1.038 M expected, sd ~ 375.
  EXPECT_GT(small, 1030000u);
  EXPECT_LT(small, 1046000u);
  EXPECT_EQ(small_freed, small) << "a sampled block's free was not recorded";
  EXPECT_EQ(t.unmatched_frees, 0u) << "frees of unsampled blocks were recorded";
  EXPECT_EQ(t.lost_allocations + t.lost_frees, 0u);
  // ~16 MB of records fill chunks: the drain thread starts and compresses them as they come.
  EXPECT_GT(t.frames, 0u) << "the drain thread never started";
}

// A run shorter than the drain thread's first duty: it exits at once, its records stay in the
// ring (the main thread's chunk, never sealed), and they are all there: the exit record written
// last, and the RSS sample the exit took in the drain thread's place.
TEST(SampledBookkeeping, AShortSampledRunLeavesEverythingInTheRing) {
  TempDir dir;
  const RunResult r = run_sampled(dir, 16384, 7, {"2000"});
  ASSERT_TRUE(r.exited(0)) << r.describe();
  ASSERT_EQ(r.traces.size(), 1u);
  const TraceContents t = read_trace(r.traces[0]);
  EXPECT_GE(t.ring_chunks, 1u);
  ASSERT_EQ(t.exits.size(), 1u);
  EXPECT_EQ(t.exits[0].status, 0);
  // All 400 large blocks are sampled with p = 0.95 and each is freed at once: the count is
  // near 380, and every one of their frees is in the trace.
  const auto [large, large_freed] = blocks_of_size(t, 50000);
  EXPECT_GT(large, 350u);
  EXPECT_EQ(large_freed, large);
  const analysis::Report report = analysis::analyze_trace(r.traces[0], {});
  EXPECT_GT(report.summary.peak_rss_bytes, 0u) << "no RSS sample in a short sampled run";
  // Sparse: the header page and the main thread's chunk (and at most one more), nothing more.
  struct stat st {};
  ASSERT_EQ(stat(r.traces[0].c_str(), &st), 0);
  EXPECT_LE(st.st_blocks * 512, 4096 + 2 * static_cast<int64_t>(t.header.chunk_size));
}

// `heapline run --sample-bytes` with no value runs the recorder at the documented default, and
// the trace says so (the analyzer scales by the interval the trace records).
TEST(SampledBookkeeping, SampleBytesWithoutAValueIsTheDefaultInterval) {
  TempDir dir;
  const RunResult r = run_untraced(
      HEAPLINE_CLI, {"run", "-o", dir.file("x.%p.trace"), "--sample-bytes", "--", SAMPLING_WORKLOAD});
  ASSERT_TRUE(r.exited(0)) << r.describe();
  const auto traces = dir.traces();
  ASSERT_EQ(traces.size(), 1u);
  const analysis::Report report = analysis::analyze_trace(traces[0], {});
  EXPECT_EQ(report.summary.sample_bytes, cli::kDefaultSampleBytes);
  EXPECT_EQ(cli::kDefaultSampleBytes, 512u * 1024) << "README documents 512 KiB";
}

}  // namespace
}  // namespace heapline::e2e

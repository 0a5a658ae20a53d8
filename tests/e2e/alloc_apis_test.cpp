// Every hooked allocation API, from several call sites and threads (tests/programs/
// e2e_alloc_apis.cpp): exact counts and sizes per API, frees per API, the live set at exit and
// allocations per thread, for the allocations the program itself makes.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <vector>

#include "trace_contents.h"
#include "traced_process.h"

namespace heapline::e2e {
namespace {

using format::AllocApi;
using Sizes = std::vector<uint64_t>;

constexpr int kThreads = 4;
constexpr int kPerThread = 500;
constexpr uint64_t kWorkerSize = 3001;

// What the main thread of e2e_alloc_apis allocates, per API, sizes sorted.
std::map<AllocApi, Sizes> main_thread_sizes() {
  Sizes mallocs = {0, 1001, 1027, 1027, 1027};
  mallocs.insert(mallocs.end(), 12, 1031);  // call_site_a x 5, call_site_b x 7
  return {
      {AllocApi::kMalloc, mallocs},
      {AllocApi::kCalloc, {10030}},
      {AllocApi::kRealloc, {1005, 2005}},
      {AllocApi::kReallocArray, {3021, 5035}},
      {AllocApi::kPosixMemalign, {1009}},
      {AllocApi::kAlignedAlloc, {1088}},
      {AllocApi::kMemalign, {1011}},
      {AllocApi::kValloc, {1013}},
      {AllocApi::kPvalloc, {1015}},
      {AllocApi::kNew, {1021, 1023, 1152}},
      {AllocApi::kNewArray, {1019, 1025, 2304}},
  };
}
constexpr uint64_t kMainThreadAllocations = 33;

// How the program's allocations end: the API of the free (realloc's implicit frees included).
std::map<AllocApi, uint64_t> expected_frees(int threads, int per_thread) {
  return {
      {AllocApi::kFree, 21 + static_cast<uint64_t>(threads) * per_thread},
      {AllocApi::kRealloc, 2},       // realloc(r, 2005) and realloc(r, 0)
      {AllocApi::kReallocArray, 1},  // reallocarray(q, 5, 1007)
      {AllocApi::kDelete, 3},
      {AllocApi::kDeleteArray, 3},
  };
}

class AllocApisTest : public ::testing::Test {
 protected:
  // Runs the program traced, checks it succeeded and left one readable trace.
  TraceContents run(int threads, int per_thread, const EnvVars& env = {}) {
    RunOptions options;
    options.env = env;
    const RunResult r = run_traced(dir_, E2E_ALLOC_APIS,
                                   {std::to_string(threads), std::to_string(per_thread)}, options);
    EXPECT_TRUE(r.exited(0)) << r.describe();
    EXPECT_EQ(r.out, "done\n");
    EXPECT_EQ(r.err, "");
    EXPECT_EQ(r.traces.size(), 1u);
    if (r.traces.size() != 1) return {};
    return read_trace(r.traces[0]);
  }

  void expect_exact(const TraceContents& t, int threads, int per_thread) {
    const EventCounts c = count_events(t, from_module(E2E_ALLOC_APIS));
    std::map<AllocApi, Sizes> sizes = main_thread_sizes();
    sizes[AllocApi::kMalloc].insert(sizes[AllocApi::kMalloc].end(),
                                    static_cast<size_t>(threads) * per_thread, kWorkerSize);
    std::sort(sizes[AllocApi::kMalloc].begin(), sizes[AllocApi::kMalloc].end());
    EXPECT_EQ(c.sizes_by_api, sizes);
    EXPECT_EQ(c.allocations, kMainThreadAllocations + static_cast<uint64_t>(threads) * per_thread);
    EXPECT_EQ(c.frees_by_api, expected_frees(threads, per_thread));
    EXPECT_EQ(c.live_sizes, (Sizes{1027, 1027, 1027}));

    // Per thread: the main thread (tid == pid) and `threads` workers with `per_thread` each.
    std::map<uint64_t, uint64_t> per_thread_counts;  // allocations -> threads with that many
    for (const auto& [tid, n] : c.allocs_by_thread)
      if (tid != t.header.pid) ++per_thread_counts[n];
    EXPECT_EQ(c.allocs_by_thread.at(t.header.pid), kMainThreadAllocations);
    EXPECT_EQ(c.allocs_by_thread.size(), static_cast<size_t>(threads) + 1);
    if (threads > 0) {
      EXPECT_EQ(per_thread_counts, (std::map<uint64_t, uint64_t>{{per_thread, threads}}));
    }

    // The whole trace is consistent: nothing lost, no address allocated twice while live.
    EXPECT_EQ(t.lost_allocations, 0u);
    EXPECT_EQ(t.lost_frees, 0u);
    EXPECT_EQ(t.allocs_at_live_address, 0u);
    EXPECT_EQ(t.null_allocations, 0u);
    EXPECT_EQ(t.null_frees, 0u);  // free(NULL) is not an event
    EXPECT_FALSE(t.truncated);
    ASSERT_EQ(t.exits.size(), 1u);
    EXPECT_EQ(t.exits[0].kind, format::ExitKind::kExit);
    EXPECT_EQ(t.exits[0].status, 0);
  }

  TempDir dir_;
};

TEST_F(AllocApisTest, ProgramPassesItsOwnChecksWithoutTheRecorder) {
  const RunResult r = run_untraced(E2E_ALLOC_APIS, {"2", "10"});
  EXPECT_TRUE(r.exited(0)) << r.describe();
  EXPECT_EQ(r.out, "done\n");
}

TEST_F(AllocApisTest, ExactCountsAndSizesPerApiAndThread) {
  const TraceContents t = run(kThreads, kPerThread);
  expect_exact(t, kThreads, kPerThread);
  ASSERT_EQ(t.processes.size(), 1u);
  EXPECT_EQ(t.processes[0].pid, t.header.pid);
  EXPECT_EQ(t.processes[0].argv, (std::vector<std::string>{E2E_ALLOC_APIS, std::to_string(kThreads),
                                                           std::to_string(kPerThread)}));
}

TEST_F(AllocApisTest, SameSizeFromTwoCallSitesHasTwoStacks) {
  const TraceContents t = run(0, 0);
  const EventCounts c = count_events(t, [](const TraceContents& tc, const Allocation& a) {
    return a.size == 1031 && from_module(E2E_ALLOC_APIS)(tc, a);
  });
  std::multiset<uint64_t> per_site;
  for (const auto& [pc, n] : c.allocs_by_call_site) per_site.insert(n);
  EXPECT_EQ(per_site, (std::multiset<uint64_t>{5, 7}));
  for (const auto& [pc, n] : c.allocs_by_call_site) EXPECT_NE(pc, 0u);
}

TEST_F(AllocApisTest, FailedAllocationsAreNotEvents) {
  // The program's failed calls (huge malloc, overflowing calloc and reallocarray, huge new) ask
  // for sizes no successful allocation has; none may appear, at any size near them either.
  const TraceContents t = run(0, 0);
  for (const Allocation& a : t.allocations) EXPECT_LT(a.size, uint64_t{1} << 40) << a.size;
  expect_exact(t, 0, 0);
}

// Many threads into a tiny ring: chunks are drained into compressed frames while threads wait
// for free ones, and the counts must stay exact.
TEST_F(AllocApisTest, ExactUnderRingPressure) {
  const TraceContents t = run(8, 2000, {{"HEAPLINE_RING_CHUNKS", "4"}, {"HEAPLINE_CHUNK_KB", "4"}});
  expect_exact(t, 8, 2000);
}

}  // namespace
}  // namespace heapline::e2e

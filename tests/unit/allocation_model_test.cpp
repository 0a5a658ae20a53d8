// The model's figures for records fed to it directly, where the truth is known by construction.
// Its live map keeps a block's size in 32 bits and the rare size of 4 GiB or more beside the
// map: those blocks must count exactly as any other (peak, leaks, per-stack bytes), full and
// sampled, also when a huge block's address is reused without a recorded free.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>

#include "model/allocation_model.h"
#include "model/live_replay.h"

namespace heapline::analysis {
namespace {

constexpr uint64_t kGiB = uint64_t{1} << 30;

AllocRecord alloc(uint64_t t, uint64_t address, uint64_t size, uint32_t stack) {
  return {t, 1, format::AllocApi::kMalloc, size, address, stack};
}
FreeRecord free_of(uint64_t t, uint64_t address) {
  return {t, 1, format::AllocApi::kFree, address};
}

TEST(AllocationModelSizes, BlocksOf4GiBAndMoreCountExactly) {
  AllocationModel m;
  const uint64_t huge = 5 * kGiB + 3, edge = (uint64_t{1} << 32) - 1, below = edge - 1;
  m.on_alloc(alloc(10, 0x10000, huge, 1));
  m.on_alloc(alloc(20, 0x20000, edge, 2));   // exactly the escape value
  m.on_alloc(alloc(30, 0x30000, below, 3));  // the largest size kept in the slot
  m.on_alloc(alloc(40, 0x40000, 64, 4));
  m.on_free(free_of(50, 0x10000));
  m.on_free(free_of(60, 0x20000));
  // A second huge block at the first one's address, then reused without a recorded free (the
  // allocator handed it out again): the first one ends there.
  m.on_alloc(alloc(70, 0x10000, 7 * kGiB, 5));
  m.on_alloc(alloc(80, 0x10000, 100, 6));
  m.finish();

  const Summary& s = m.summary();
  EXPECT_EQ(s.allocations, 6u);
  EXPECT_EQ(s.bytes_allocated, huge + edge + below + 64 + 7 * kGiB + 100);
  EXPECT_EQ(s.peak_bytes, huge + edge + below + 64);  // at t=40, before the first free
  EXPECT_EQ(s.peak_time_ns, 40u);
  EXPECT_EQ(s.leaked_bytes, below + 64 + 100);
  EXPECT_EQ(s.leaked_blocks, 3u);
  const auto& stats = m.stack_stats();
  EXPECT_EQ(stats[1].bytes_allocated, huge);
  EXPECT_EQ(stats[1].peak_bytes, huge);
  EXPECT_EQ(stats[1].live_bytes, 0u);
  EXPECT_EQ(stats[2].peak_bytes, edge);
  EXPECT_EQ(stats[2].live_bytes, 0u);
  EXPECT_EQ(stats[3].live_bytes, below);
  EXPECT_EQ(stats[5].bytes_allocated, 7 * kGiB);
  EXPECT_EQ(stats[5].live_bytes, 0u);  // ended by the reuse of its address
  EXPECT_EQ(stats[6].live_bytes, 100u);
}

TEST(AllocationModelSizes, AHugeSampledBlockCountsAsItsEstimate) {
  // In sampling mode a block stands for size / p bytes and 1 / p allocations, p = 1 - exp(-s/N):
  // ~1 for a huge block, so its estimate is its size.
  const uint64_t n = 512 * 1024, huge = 6 * kGiB, small = 1000;
  AllocationModel m;
  m.set_sample_bytes(n);
  m.on_alloc(alloc(10, 0x10000, huge, 1));
  m.on_alloc(alloc(20, 0x20000, small, 2));
  m.on_free(free_of(30, 0x10000));
  m.finish();
  const double p_small = -std::expm1(-static_cast<double>(small) / n);
  const uint64_t small_estimate = static_cast<uint64_t>(std::llround(small / p_small));
  const Summary& s = m.summary();
  EXPECT_EQ(s.bytes_allocated, huge + small_estimate);
  EXPECT_EQ(s.peak_bytes, huge + small_estimate);
  EXPECT_EQ(s.leaked_bytes, small_estimate);
  EXPECT_EQ(s.allocations, static_cast<uint64_t>(std::llround(1 + 1 / p_small)));
  EXPECT_EQ(s.frees, 1u);
  EXPECT_EQ(m.stack_stats()[1].live_bytes, 0u);
  EXPECT_EQ(m.stack_stats()[2].live_bytes, small_estimate);
}

// The second replay (lines, plot) agrees with the model to the byte on the same records.
class LiveTotal : public LiveChangeListener {
 public:
  void on_live_change(uint64_t, uint32_t, int64_t delta) override {
    live += delta;
    if (live > peak) peak = live;
  }
  int64_t live = 0, peak = 0;
};

TEST(AllocationModelSizes, TheLiveReplayAgreesOnHugeBlocks) {
  LiveReplay replay;
  LiveTotal total;
  replay.add_listener(total);
  replay.on_alloc(alloc(10, 0x10000, 5 * kGiB, 1));
  replay.on_alloc(alloc(20, 0x20000, 64, 2));
  replay.on_alloc(alloc(30, 0x10000, 9 * kGiB, 3));  // reuses the first one's address
  replay.on_free(free_of(40, 0x20000));
  replay.finish();
  EXPECT_EQ(total.peak, static_cast<int64_t>(9 * kGiB + 64));
  EXPECT_EQ(total.live, static_cast<int64_t>(9 * kGiB));
}

}  // namespace
}  // namespace heapline::analysis

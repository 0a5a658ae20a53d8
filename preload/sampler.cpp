#include "sampler.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "bootstrap_pool.h"
#include "clock.h"
#include "sampled_drain.h"
#include "trace_clock.h"

namespace heapline::preload {

uint64_t g_sample_bytes = 0;
uint64_t g_sample_seed = 0;

namespace sampler_filter {
std::atomic<uint8_t> g_buckets[1u << kBits];
}  // namespace sampler_filter

namespace {

using sampler_filter::bucket_of;
using sampler_filter::g_buckets;
using sampler_filter::kMaybe;
using sampler_filter::kNoneLive;

constexpr uint64_t kEmpty = 0;
constexpr uint64_t kTombstone = 1;  // a forgotten block: lookups go on past it
constexpr int kSetBits = 20;        // 1 Mi slots (8 MiB of address space, touched as used)
constexpr uint64_t kSetMask = (1ull << kSetBits) - 1;
// Linear probing, bounded: a block is stored within kMaxProbe slots of its home, so a lookup of
// an absent address ends there even when forgotten blocks (tombstones) have used up every empty
// slot of a long run. At most half the slots hold live blocks.
constexpr uint64_t kMaxProbe = 128;
constexpr uint64_t kMaxLive = (kSetMask + 1) / 2;

std::atomic<uint64_t>* g_slots = nullptr;
// When the set fills up, frees stop being filtered: every free is recorded and the analyzer
// ignores the ones it has no allocation for. Correct, only slower.
std::atomic<bool> g_set_full{false};
std::atomic<uint64_t> g_live_slots{0};

uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return x;
}

// Where a block's search starts. Blocks of one 8 KiB region of the heap get the consecutive
// slots of one run (a 16-byte granule each, so they do not collide), and the regions are spread
// over the set by a hash. The set is touched page by page as samples come: hashed block by
// block, ~500 samples in a small heap touched ~430 pages (a page fault each); this way they
// touch the pages that cover their heap, half its span (~40 pages for churn's few hundred KB).
// Many live sampled blocks in one region (intervals of a few hundred bytes) fill part of a
// run, and a region hashed onto it probes past them (within kMaxProbe unless both are dense;
// past it the set gives up filtering, see set_full).
constexpr int kRegionShift = 13;
constexpr int kRunBits = kRegionShift - 4;
uint64_t home_of(uint64_t key) {
  const uint64_t run = mix(key >> kRegionShift) << kRunBits;
  return (run | ((key >> 4) & ((1u << kRunBits) - 1))) & kSetMask;
}

uint64_t next_random(uint64_t& state) {  // xorshift64*
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return state * 2685821657736338717ull;
}

int64_t draw_gap(ThreadState& t) {
  // Exponential with mean N: -N ln(U), U uniform in (0, 1].
  const double u = (static_cast<double>(next_random(t.sample_rng) >> 11) + 1.0) * 0x1.0p-53;
  return static_cast<int64_t>(-std::log(u) * static_cast<double>(g_sample_bytes)) + 1;
}

// The filter at the start of filtering: no sampled block live, except that the buckets of the
// bootstrap pool's blocks say "maybe" for good. The free fast path then needs no test of its
// own for pool blocks (which must never reach the real free): they always take the full path.
// The pool hands out blocks only until the real functions are known, which is before filtering
// starts; the margin covers a block another thread's nested call was taking meanwhile.
// The pool's buckets are "maybe" first (they already are in a new process: zero-initialized),
// so no free of a pool block ever reads "none live"; the rest is two memsets, not 32 Ki atomic
// stores (start-up time counts in a short sampled run).
void start_filter() {
  constexpr uint64_t kBuckets = 1u << sampler_filter::kBits;
  static_assert(sizeof(g_buckets) == kBuckets);
  const uint64_t pool_bytes =
      std::min<uint64_t>(bootstrap_pool::bytes_handed_out() + 4096, bootstrap_pool::kPoolSize);
  const uint64_t first = bucket_of(reinterpret_cast<uint64_t>(bootstrap_pool::g_pool));
  const uint64_t count = std::min(kBuckets, (pool_bytes + 15) / 16);
  for (uint64_t i = 0; i < count; ++i)
    g_buckets[(first + i) % kBuckets].store(kMaybe, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  auto* bytes = reinterpret_cast<unsigned char*>(g_buckets);  // atomics of one byte, no padding
  if (first + count <= kBuckets) {
    std::memset(bytes, kNoneLive, first);
    std::memset(bytes + first + count, kNoneLive, kBuckets - first - count);
  } else {
    const uint64_t after = first + count - kBuckets;  // the pool's buckets wrap around
    std::memset(bytes + after, kNoneLive, first - after);
  }
  std::atomic_thread_fence(std::memory_order_release);
}

void set_full() {
  g_set_full.store(true, std::memory_order_release);
  for (auto& bucket : g_buckets) bucket.store(kMaybe, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
}

// One more live sampled block in the bucket (255 - count goes down; at kMaybe it stays).
void count_in(std::atomic<uint8_t>& bucket) {
  uint8_t v = bucket.load(std::memory_order_relaxed);
  while (v != kMaybe && !bucket.compare_exchange_weak(v, v - 1, std::memory_order_acq_rel)) {
  }
}

void count_out(std::atomic<uint8_t>& bucket) {
  uint8_t v = bucket.load(std::memory_order_relaxed);
  while (v != kMaybe && v != kNoneLive &&
         !bucket.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel)) {
  }
}

}  // namespace

void init_sampler(uint64_t sample_bytes, uint64_t seed) {
  g_sample_bytes = sample_bytes;
  g_sample_seed = seed ? seed : monotonic_ns() ^ (static_cast<uint64_t>(getpid()) << 32);
  if (!sample_bytes) return;
  void* mem = mmap(nullptr, (1ull << kSetBits) * sizeof(uint64_t), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) {
    set_full();
    return;
  }
  g_slots = static_cast<std::atomic<uint64_t>*>(mem);
  start_filter();
}

void reset_sampler_after_fork() {
  if (!g_slots) return;
  // The child is single-threaded here: wipe the parent's blocks (its copy of them).
  madvise(g_slots, (1ull << kSetBits) * sizeof(uint64_t), MADV_DONTNEED);
  g_live_slots.store(0);
  g_set_full.store(false);
  start_filter();
}

bool sample_crossed(ThreadState& t) {
  start_drain_thread_if_worth_it(trace_clock());
  if (t.sample_rng == 0) {
    // First allocation of this thread: start its own stream, then place the first point. The
    // stream is chosen by the thread's rank in starting to allocate, not by its tid, so a fixed
    // seed reproduces a run (exactly, for a program whose threads start in a fixed order).
    static std::atomic<uint64_t> next_rank{0};
    const uint64_t rank = next_rank.fetch_add(1, std::memory_order_relaxed) + 1;
    t.sample_rng = mix(g_sample_seed ^ (rank * 0x9E3779B97F4A7C15ull)) | 1;
    t.bytes_until_sample += draw_gap(t);
    if (t.bytes_until_sample > 0) return false;
  }
  while (t.bytes_until_sample <= 0) t.bytes_until_sample += draw_gap(t);
  return true;
}

void remember_sampled(const void* p) {
  const auto key = reinterpret_cast<uint64_t>(p);
  if (!g_slots || key <= kTombstone || g_set_full.load(std::memory_order_acquire)) return;
  // The filter first: a free racing with this insert (another thread's, after the program
  // handed it the block) must not be turned away.
  count_in(g_buckets[bucket_of(key)]);
  if (g_live_slots.fetch_add(1, std::memory_order_relaxed) >= kMaxLive) return set_full();
  const uint64_t home = home_of(key);
  for (uint64_t n = 0; n < kMaxProbe; ++n) {
    const uint64_t i = (home + n) & kSetMask;
    // A write first, not a load: the set is touched page by page as samples come, and a load
    // of a fresh page maps the shared zero page, which the store after it must then replace:
    // a TLB shootdown, an IPI to every CPU another thread of the program runs on (most of the
    // added system time of a sampled two-thread churn).
    uint64_t seen = kEmpty;
    if (g_slots[i].compare_exchange_strong(seen, key, std::memory_order_acq_rel)) return;
    if (seen == kTombstone &&
        g_slots[i].compare_exchange_strong(seen, key, std::memory_order_acq_rel))
      return;
  }
  set_full();  // a neighbourhood with no room: give up filtering rather than lose the block
}

bool forget_sampled(const void* p) {
  const auto key = reinterpret_cast<uint64_t>(p);
  if (!g_slots || g_set_full.load(std::memory_order_acquire)) return true;
  std::atomic<uint8_t>& bucket = g_buckets[bucket_of(key)];
  if (bucket.load(std::memory_order_acquire) == kNoneLive) return false;
  const uint64_t home = home_of(key);
  // Slots never go back to empty, so an empty one ends the search: the key was never stored
  // past it (see remember_sampled).
  for (uint64_t n = 0; n < kMaxProbe; ++n) {
    const uint64_t i = (home + n) & kSetMask;
    uint64_t seen = g_slots[i].load(std::memory_order_acquire);
    if (seen == kEmpty) return false;
    if (seen == key && g_slots[i].compare_exchange_strong(seen, kTombstone,
                                                          std::memory_order_acq_rel)) {
      g_live_slots.fetch_sub(1, std::memory_order_relaxed);
      count_out(bucket);
      return true;
    }
  }
  return false;
}

}  // namespace heapline::preload

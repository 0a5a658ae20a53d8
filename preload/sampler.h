// Sampling mode (HEAPLINE_SAMPLE_BYTES=N): allocations are recorded by a Poisson process over
// allocated bytes with mean interval N, the approach of tcmalloc's and heapprofd's samplers. An
// allocation of s bytes is recorded with probability p = 1 - exp(-s/N), so the analyzer scales
// it by 1/p and estimates stay unbiased; a big allocation (s >> N) is nearly always recorded.
//
// Each thread counts down the bytes to its next sample point; only when it crosses one does it
// draw the next exponential gap (memorylessness makes restarting the count exact). Frees are
// recorded only for sampled blocks, which a lock-free address set remembers; a small counting
// filter in front of it answers "certainly not sampled" for most frees without touching the set.
//
// The hooks try the fast paths below before anything else: in sampling mode nearly every call
// is an allocation short of a sample point or a free of an unsampled block, and those must cost
// a few instructions, not a pass through the recorder (the 1.10x target on malloc-bound code).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "thread_state.h"

namespace heapline::preload {

extern uint64_t g_sample_bytes;  // 0 = record everything
extern uint64_t g_sample_seed;

void init_sampler(uint64_t sample_bytes, uint64_t seed);
// In a forked child: the parent's sampled blocks are not in the child's trace.
void reset_sampler_after_fork();

// Slow path of should_sample: draws the next gap(s).
bool sample_crossed(ThreadState& t);

// Whether this allocation is to be recorded. Inline: it is on every allocation.
inline bool should_sample(ThreadState& t, size_t size) {
  if (g_sample_bytes == 0) return true;
  t.bytes_until_sample -= static_cast<int64_t>(size);
  return t.bytes_until_sample <= 0 && sample_crossed(t);
}

// Set of the sampled blocks still live.
void remember_sampled(const void* p);
bool forget_sampled(const void* p);  // true if p was sampled (and is now forgotten)

// Whether a free of p is to be recorded.
inline bool should_record_free(const void* p) { return g_sample_bytes == 0 || forget_sampled(p); }

namespace sampler_filter {
// Per bucket of addresses, how many sampled blocks are live there, stored as 255 - count: 255
// means none, so the free fast path is one compare; 0 (the zero-initialized state) means "maybe"
// for good. So the filter says "maybe" everywhere until the sampling mode sets it up, and
// again once the set of sampled blocks overflows (every free is then recorded), and a bucket
// stays "maybe" once 255 blocks were live in it, or when a bootstrap pool block lies in it. Direct-mapped by the address's 16-byte
// granule within a 512 KiB window: frees close together in the heap read the same cache lines.
// (Blocks from mmap all start at a page + 16 and share 1/256 of the buckets; their frees are
// costly anyway, and small blocks at those offsets are 1 in 256.)
constexpr int kBits = 15;
constexpr uint8_t kNoneLive = 255;
constexpr uint8_t kMaybe = 0;
extern std::atomic<uint8_t> g_buckets[1u << kBits] __attribute__((visibility("hidden")));

inline size_t bucket_of(uint64_t address) { return (address >> 4) & ((1u << kBits) - 1); }
}  // namespace sampler_filter

// Fast path of an allocation in sampling mode: true (and the bytes counted) when it does not
// reach a sample point, so the hook only forwards it. False sends it the full way: not sampling,
// recorder not running yet (the count is then 0), the thread already inside heapline (its phase
// decides what a nested call does, see thread_state.h), or a sample point reached. (A signal
// handler's allocation that interrupts this read-modify-write of the count may see its own
// update of the count lost: a slightly shifted sample point, nothing else.)
inline bool sampling_skips_alloc(size_t size) {
  ThreadState& t = t_state;
  // One unsigned compare: outside heapline the count is never negative (only the full path,
  // in kHook or kRecorder, takes it to 0 or below, and sample_crossed gives it a positive value
  // again before the phase goes back), so it also sends a count of 0 the full way, and a size
  // beyond INT64_MAX (a failing malloc) never takes this path.
  if (t.phase != Phase::kOutside || static_cast<uint64_t>(t.bytes_until_sample) <= size)
    return false;
  t.bytes_until_sample -= static_cast<int64_t>(size);
  return true;
}

// Fast path of a free in sampling mode: true when p is certainly not a sampled block, so the
// free is not an event and the hook only forwards it. It needs no test of its own for null (the
// real free ignores it, and before filtering starts every bucket says "maybe") nor for a block of
// the bootstrap pool (whose buckets say "maybe" for good, see sampler.cpp): it is one load and
// compare.
inline bool sampling_skips_free(const void* p) {
  using namespace sampler_filter;
  return g_buckets[bucket_of(reinterpret_cast<uint64_t>(p))].load(std::memory_order_acquire) ==
         kNoneLive;
}

}  // namespace heapline::preload

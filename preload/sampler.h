// Sampling mode (HEAPLINE_SAMPLE_BYTES=N): allocations are recorded by a Poisson process over
// allocated bytes with mean interval N, the approach of tcmalloc's and heapprofd's samplers. An
// allocation of s bytes is recorded with probability p = 1 - exp(-s/N), so the analyzer scales
// it by 1/p and estimates stay unbiased; a big allocation (s >> N) is nearly always recorded.
//
// Each thread counts down the bytes to its next sample point; only when it crosses one does it
// draw the next exponential gap (memorylessness makes restarting the count exact). Frees are
// recorded only for sampled blocks, which a lock-free address set remembers; a small bitmap in
// front of it answers "certainly not sampled" for most frees without touching the set.
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

}  // namespace heapline::preload

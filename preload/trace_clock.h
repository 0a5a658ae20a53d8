// The trace's clock: ticks of 2^kTimeShift ns since the trace started, the same for every thread.
//
// CLOCK_MONOTONIC through the vDSO costs ~29 ns here, twice per malloc+free pair. When the kernel
// itself uses the TSC as its clocksource (so the TSC is invariant and synchronized across CPUs),
// the drain thread calibrates the TSC against CLOCK_MONOTONIC once, over ~20 ms, and from then on
// every thread converts rdtsc (~10 ns) with that one fixed mapping. One mapping for all threads
// keeps cross-thread order exact; its rate error (~1e-6) only stretches absolute times slightly.
#pragma once

#include <x86intrin.h>

#include <atomic>
#include <cstdint>

#include "clock.h"
#include "heapline/trace_format.h"

namespace heapline::preload {

__extension__ typedef unsigned __int128 uint128_t;  // rdtsc deltas times a 32.32 rate overflow 64 bits

struct TscMapping {
  uint64_t tsc_anchor;
  uint64_t ns_anchor;   // trace-relative ns at tsc_anchor
  uint64_t ns_per_tsc;  // 32.32 fixed point
};

extern std::atomic<const TscMapping*> g_tsc_mapping;  // null until calibrated (or no TSC)
extern uint64_t g_trace_start_ns;                       // CLOCK_MONOTONIC at trace start

inline uint64_t trace_clock() {
  if (const TscMapping* m = g_tsc_mapping.load(std::memory_order_acquire)) {
    const uint64_t tsc = __rdtsc();
    const uint64_t delta = tsc > m->tsc_anchor ? tsc - m->tsc_anchor : 0;
    const auto ns = static_cast<uint64_t>((static_cast<uint128_t>(delta) * m->ns_per_tsc) >> 32);
    return (m->ns_anchor + ns) >> format::kTimeShift;
  }
  return (monotonic_ns() - g_trace_start_ns) >> format::kTimeShift;
}

// Trace start (and, after a fork, restart): resets the mapping, starts a calibration.
void start_trace_clock(uint64_t start_monotonic_ns);
// Called by the drain thread on each pass: finishes the calibration when enough time passed.
void calibrate_trace_clock();

}  // namespace heapline::preload

// Sampling mode's drain thread: started only once compressing is worth it. Until then the
// sample points take its periodic duty (RSS samples), the exit and each exiting thread record
// the threads' names (lifecycle.cpp, recorder.cpp), and the records stay in the ring, which a
// reader reads as after a SIGKILL.
//
// Why: a sampled run writes ~15 bytes per sample point (~200 KB in a second of 6.8 GB/s churn
// at 512 KiB), while starting the thread costs ~4 ms of CPU (its zstd streams' set-up clears
// ~5 MB of fresh pages) and, on a busy machine, the wall time of scheduling one more thread: 10%
// of a 40 ms run. So it starts at the first sample point at which
//  - the ring holds more than kSampledRawTailBytes of records (checked when a chunk is sealed:
//    a chunk filled up, or several threads left theirs), or
//  - an eighth of the ring's chunks are sealed (short-lived threads leave a chunk each), or
//  - the run has lasted kSampledDrainAfterMs (a long run's trace gets compressed frames, and
//    names that change are seen).
// An exit leaves at most kSampledRawTailBytes undrained without waiting for a drain pass.
#pragma once

#include <cstdint>

namespace heapline::preload {

struct Options;

constexpr uint64_t kSampledRawTailBytes = 128 * 1024;
constexpr uint64_t kSampledDrainAfterMs = 1000;

// At the trace's start (`now`, trace ticks): the drain thread is deferred.
void defer_drain_for_sampling(const Options& options, uint64_t now);
// At a sample point, outside the recorder: starts the drain thread if it is worth it now.
void start_drain_thread_if_worth_it(uint64_t now);
// At a sample point, in the recorder phase: an RSS sample into this thread's chunk when one is
// due and the drain thread is not there to take it.
void record_rss_if_due(uint64_t now);

}  // namespace heapline::preload

// Monotonic nanoseconds: the trace's only clock. CLOCK_MONOTONIC is read through the vDSO (no
// system call) and is consistent across CPUs, which the analyzer relies on when it merges the
// chunks of different threads by timestamp.
#pragma once

#include <time.h>

#include <cstdint>

namespace heapline::preload {

inline uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

inline uint64_t realtime_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace heapline::preload

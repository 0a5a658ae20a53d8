// Per-thread recorder state in initial-exec TLS: reading it never calls into the dynamic loader
// (which could allocate), so hooks can use it from the first allocation on.
#pragma once

#include <cstdint>

#include "heapline/trace_format.h"

namespace heapline::preload {

struct ThreadState {
  bool in_hook;        // reentrancy guard: set while this thread is inside a hook or the recorder
  bool exiting;        // the thread's TLS destructor has run: seal after every record
  bool key_set;        // pthread_setspecific done, so we learn when the thread exits
  bool never_wait;     // the drain thread: it alone frees chunks, so it must never wait for one
  uint32_t tid;        // gettid(), cached
  format::ChunkHeader* chunk;  // the ring chunk this thread appends to, or null
  uint8_t* write_ptr;  // next free byte in chunk
  uint8_t* limit;      // end of chunk
  uint64_t last_time_ns;   // of the last record in chunk (delta base)
  uint64_t last_address;   // of the last alloc/free in chunk (delta base)
  uint64_t lost_allocs;    // allocations seen but not recorded (e.g. ring starved)
  uint64_t lost_frees;
  int64_t bytes_until_sample;  // sampling mode: bytes to allocate before the next sample point
  uint64_t sample_rng;         // sampling mode: this thread's random state (0 = not started)
};

extern thread_local ThreadState t_state __attribute__((tls_model("initial-exec")));

}  // namespace heapline::preload

// Per-thread recorder state in initial-exec TLS: reading it never calls into the dynamic loader
// (which could allocate), so hooks can use it from the first allocation on.
#pragma once

#include <atomic>
#include <cstdint>

#include "heapline/trace_format.h"

namespace heapline::preload {

// Where the thread is in heapline's code. A hook called while the thread is already inside
// heapline is either a signal handler's (the handler interrupted us) or one our own code made
// through a foreign function; the phase tells which, and so what the nested call may do
// (lifecycle.h, HookScope; signal_queue.h).
enum class Phase : uint8_t {
  // Not in heapline: a hook call is the program's, recorded in full.
  kOutside,
  // In a hook's own glue or its call of the real allocator, which calls no hook: a nested call
  // is a signal handler's. Nothing of the recorder is in use, so it is recorded in full.
  kHook,
  // In the recorder (capturing, interning, writing), whose own calls that may allocate run in
  // kInternal: a nested call is a signal handler's, but the recorder's state is mid-update, so
  // it is queued and written when the thread leaves this phase (signal_queue.h).
  kRecorder,
  // In code whose nested calls are heapline's own or cannot be told from them (the drain thread,
  // start and finish, resolving the real functions, fork handlers, foreign calls made by the
  // recorder that may allocate): nested calls are forwarded, unrecorded.
  kInternal,
};

// 16-aligned: the first 16 bytes (phase, countdown) share a cache line.
struct alignas(16) ThreadState {
  Phase phase;         // see Phase; kOutside (0) in a new thread
  bool exiting;        // the thread's TLS destructor has run: seal after every record
  bool key_set;        // pthread_setspecific done, so we learn when the thread exits
  bool never_wait;     // never wait for a free chunk: the drain thread (it alone frees chunks)
                       // and a signal handler's records (the interrupted code may hold a lock
                       // the drain needs)
  uint32_t tid;        // gettid(), cached
  // Sampling mode: bytes to allocate before the next sample point. Next to the phase: the
  // allocation fast path reads both (sampler.h), from one cache line.
  int64_t bytes_until_sample;
  format::ChunkHeader* chunk;  // the ring chunk this thread appends to, or null
  uint8_t* write_ptr;  // next free byte in chunk
  uint8_t* limit;      // end of chunk's part with disk blocks (TraceFile::backed_end)
  uint64_t last_time_ns;   // of the last record in chunk (delta base)
  uint64_t last_address;   // of the last alloc/free in chunk (delta base)
  uint64_t lost_allocs;    // allocations seen but not recorded (e.g. ring starved)
  uint64_t lost_frees;
  uint64_t sample_rng;         // sampling mode: this thread's random state (0 = not started)
};

// constinit: no TU needs to call a TLS init function before touching it (one test and branch
// fewer per access).
extern thread_local constinit ThreadState t_state __attribute__((tls_model("initial-exec")));

// Sets this thread's phase. The compiler barriers keep the store where it is written relative to
// the code around it: a signal handler on this thread reads the phase at any instruction.
inline void set_phase(Phase phase) {
  std::atomic_signal_fence(std::memory_order_seq_cst);
  t_state.phase = phase;
  std::atomic_signal_fence(std::memory_order_seq_cst);
}

// RAII: the thread is in kInternal for this object's lifetime, then back in the phase it was
// in. Around calls of foreign code that may allocate (or that a hook must not see as the
// program's), so that their allocations are neither recorded nor taken for a signal handler's.
class InternalPhase {
 public:
  InternalPhase() : saved_(t_state.phase) { set_phase(Phase::kInternal); }
  ~InternalPhase() { set_phase(saved_); }
  InternalPhase(const InternalPhase&) = delete;
  InternalPhase& operator=(const InternalPhase&) = delete;

 private:
  Phase saved_;
};

}  // namespace heapline::preload

// What the hooks hand their results to: one call per event. The caller holds a HookScope that
// may_record() and is in the recorder phase (RecorderPhase, signal_queue.h). None of these
// allocate through the hooked allocator, lock, or do I/O, except that taking a fresh chunk may
// wait for the drain when the ring is full; their calls of foreign code that may allocate run in
// InternalPhase.
#pragma once

#include <cstddef>
#include <cstdint>

#include "heapline/trace_format.h"
#include "thread_state.h"
#include "trace_clock.h"

namespace heapline::preload {

void record_alloc(const void* p, size_t size, format::AllocApi api);
// An allocation whose stack (frames[0] innermost) and time were taken earlier: a signal
// handler's, queued (signal_queue.h). Its block is in the sampler's set already.
void record_alloc_with_stack(const void* p, size_t size, format::AllocApi api,
                             const uint64_t* frames, size_t depth, uint64_t time_ns);
// `time` lets realloc date its implicit free to before the real call (see hooks.cpp).
void record_free(const void* p, format::AllocApi api, uint64_t time_ns);
void record_free(const void* p, format::AllocApi api);

// Process-level records, written into the calling thread's chunk.
void record_process_info(uint64_t time_ns);
void record_exit(format::ExitKind kind, int status);
// kExec: `program` is about to be exec'd; an empty one says the exec just attempted failed.
void record_exec(const char* program, size_t length);
void record_fork(int child_pid);
void record_lost_counts();

// Sets up the thread-exit hook for this thread (pthread key). Idempotent, cheap after the first.
void register_thread(ThreadState& t);
// Creates the pthread key whose destructor seals a thread's chunk when it exits.
void init_thread_tracking();

}  // namespace heapline::preload

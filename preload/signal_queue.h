// Hook calls that a signal handler makes while its thread is inside the recorder.
//
// The recorder (phase kRecorder: capturing a stack, interning it, writing records) is mid-update
// when a signal interrupts it, so a handler's malloc or free cannot be recorded there and then.
// It is queued instead, in a small fixed per-thread queue (no allocation), and the interrupted
// thread writes the queued events when it leaves the recorder: after its own record, in the
// order they happened. A queued allocation's stack is one frame, the hook's return address (the
// handler's call site): the unwinder may be the very thing that was interrupted. A full queue
// counts the event in the trace's lost counts.
//
// Why such a call can only be a signal handler's: the recorder's own calls of foreign code that
// may allocate run in kInternal (InternalPhase), whose nested calls are forwarded unrecorded.
#pragma once

#include <cstddef>
#include <cstdint>

#include "heapline/trace_format.h"
#include "thread_state.h"

namespace heapline::preload {

// From a hook nested in kRecorder. `site` is the hook's return address.
void queue_alloc(const void* p, size_t size, format::AllocApi api, const void* site);
void queue_free(const void* p, format::AllocApi api);
// realloc's free, dated before the real call (see hooks.cpp).
void queue_free_at(const void* p, format::AllocApi api, uint64_t time_ns);

namespace detail {
extern thread_local constinit uint32_t t_queued __attribute__((tls_model("initial-exec")));
// Back in `quiet` (a phase whose nested calls do not queue), writes what was queued.
void write_queued(Phase quiet);
}  // namespace detail

// RAII: the thread is in the recorder (kRecorder) for this object's lifetime. On leaving, the
// events queued meanwhile are written.
class RecorderPhase {
 public:
  __attribute__((always_inline)) RecorderPhase() : saved_(t_state.phase) {
    set_phase(Phase::kRecorder);
  }
  __attribute__((always_inline)) ~RecorderPhase() {
    set_phase(saved_);
    if (__builtin_expect(detail::t_queued != 0, 0)) detail::write_queued(saved_);
  }
  RecorderPhase(const RecorderPhase&) = delete;
  RecorderPhase& operator=(const RecorderPhase&) = delete;

 private:
  Phase saved_;
};

// In a forked child: what the parent's handlers queued is the parent's.
void reset_signal_queue_after_fork();

}  // namespace heapline::preload

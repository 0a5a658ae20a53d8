// The recorder's one lifecycle state machine and the phase guard every hook starts with.
//
//   kUninitialized --(first hook or constructor)--> kInitializing --> kEnabled
//                                                                 \-> kDisabled (no output)
//   kEnabled --(output failed)--> kDisabled
//
// Fork policy: the prepare handler puts the forking thread in kInternal so fork's own allocations
// are not recorded; the parent and child handlers restore its phase; the child abandons the
// parent's ring (it is the parent's file) and opens its own trace (%p expands to the child's pid).
#pragma once

#include <atomic>

#include "fork_gate.h"
#include "signal_queue.h"
#include "thread_state.h"

namespace heapline::preload {

enum class State : int { kUninitialized, kInitializing, kEnabled, kDisabled };

extern std::atomic<State> g_state;

// Initializes the recorder if nobody has (resolving the real functions, opening the trace).
// Safe to call from any hook; returns once initialization is finished or known to be elsewhere
// in progress on this very thread.
void ensure_initialized();

// Switches recording off for good after printing `why` once. Hooks keep forwarding.
void disable_recording(const char* why);

// Called by the _exit hooks and the on_exit handler.
void record_process_exit(format::ExitKind kind, int status);

// Called by the exec hooks just before the real exec: writes kExec (the program about to run) and
// seals this thread's chunk, so that the old image's trace ends saying so. Returns false when
// nothing was written (recording off, a nested call, or a vfork child, which shares its parent's
// memory and must not write into its parent's trace).
bool record_exec_attempt(const char* program);
// The exec returned, so it failed and the process goes on: an empty kExec voids the attempt.
void record_exec_failed();

// RAII guard every hook starts with: from kOutside the thread enters kHook; from any other phase
// the hook is nested (a signal handler's, or our own code's through a foreign function), and the
// phase it found decides what it may do (see Phase in thread_state.h):
//   kOutside  may_record(): recorded in full;
//   kHook     may_record(): a signal handler's call, recorded in full, but it never waits (for a
//             fork to finish or a chunk to free up): the interrupted code may hold what the wait
//             needs, an arena lock say;
//   kRecorder must_queue(): a signal handler's call, queued (signal_queue.h);
//   kInternal neither: forwarded unrecorded (operator new calling malloc, dlsym, libunwind...).
// The destructor restores the phase found.
class HookScope {
 public:
  // Inlined (here and in the classes below): on every hook call, and an outlined destructor
  // would be a frame more for every stack walk.
  __attribute__((always_inline)) HookScope() : outer_(t_state.phase) {
    if (__builtin_expect(outer_ == Phase::kOutside, 1)) {
      set_phase(Phase::kHook);
    } else if (outer_ == Phase::kHook) {
      saved_never_wait_ = t_state.never_wait;
      t_state.never_wait = true;
    }
  }
  __attribute__((always_inline)) ~HookScope() {
    set_phase(outer_);
    if (__builtin_expect(outer_ == Phase::kHook, 0)) t_state.never_wait = saved_never_wait_;
  }
  HookScope(const HookScope&) = delete;
  HookScope& operator=(const HookScope&) = delete;

  bool outermost() const { return outer_ == Phase::kOutside; }
  // May wait for a fork in progress or a free chunk: not in a signal handler's nested call.
  bool may_wait() const { return outer_ == Phase::kOutside; }
  bool must_queue() const { return outer_ == Phase::kRecorder; }
  // Also starts the recorder on the first allocation of the process (which may come from a
  // library initialized before ours, e.g. libstdc++'s emergency exception pool).
  __attribute__((always_inline)) bool may_record() const {
    if (outer_ > Phase::kHook) return false;
    State s = g_state.load(std::memory_order_acquire);
    if (__builtin_expect(s == State::kUninitialized, 0)) {
      ensure_initialized();
      s = g_state.load(std::memory_order_acquire);
    }
    return s == State::kEnabled;
  }

 private:
  Phase outer_;
  bool saved_never_wait_ = false;
};

// RAII in a hook whose scope may_record(), around its recording: the thread is in the recorder
// phase (signal handlers' calls meanwhile are queued and written at the end) and inside a fork
// gate section (fork waits for the stack capture; see fork_gate.h), which a signal handler's
// nested recording enters without waiting.
class Recording {
 public:
  __attribute__((always_inline)) explicit Recording(const HookScope& scope)
      : section_(scope.may_wait()) {}
  __attribute__((always_inline)) ~Recording() {}
  Recording(const Recording&) = delete;
  Recording& operator=(const Recording&) = delete;

 private:
  RecorderPhase phase_;  // first: left last, so the queued events are written inside the section
  RecorderSection section_;
};

}  // namespace heapline::preload

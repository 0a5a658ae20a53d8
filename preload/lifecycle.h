// The recorder's one lifecycle state machine and the reentrancy guard every hook starts with.
//
//   kUninitialized --(first hook or constructor)--> kInitializing --> kEnabled
//                                                                 \-> kDisabled (no output)
//   kEnabled --(output failed)--> kDisabled
//
// Fork policy: the prepare handler raises the forking thread's guard so fork's own allocations are
// not recorded; the parent lowers it; the child abandons the parent's ring (it is the parent's
// file), opens its own trace (%p expands to the child's pid), and lowers it.
#pragma once

#include <atomic>

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

// RAII reentrancy guard. The outermost hook on a thread may record; nested calls (operator new
// calling malloc, libunwind or zstd allocating, a signal handler interrupting a hook) may not.
class HookScope {
 public:
  HookScope() : outermost_(!t_state.in_hook) { t_state.in_hook = true; }
  ~HookScope() {
    if (outermost_) t_state.in_hook = false;
  }
  HookScope(const HookScope&) = delete;
  HookScope& operator=(const HookScope&) = delete;

  bool outermost() const { return outermost_; }
  // Also starts the recorder on the first allocation of the process (which may come from a
  // library initialized before ours, e.g. libstdc++'s emergency exception pool).
  bool may_record() const {
    if (!outermost_) return false;
    State s = g_state.load(std::memory_order_acquire);
    if (__builtin_expect(s == State::kUninitialized, 0)) {
      ensure_initialized();
      s = g_state.load(std::memory_order_acquire);
    }
    return s == State::kEnabled;
  }

 private:
  bool outermost_;
};

}  // namespace heapline::preload

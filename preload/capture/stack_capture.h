// Call-stack capture. Frames are return addresses (the analyzer subtracts one
// before line lookup); the recorder's own frames are dropped.
#pragma once

#include <cstddef>
#include <cstdint>

#include "rule_walk.h"

namespace heapline::preload {

// kDwarf: cached per-address rules from .eh_frame (unwind_rule.h), libunwind for the stacks they
// cannot step through; kLibunwind: libunwind's unw_backtrace for every stack; kFramePointer: the
// rbp chain, right only for code built with frame pointers.
enum class UnwindMethod { kDwarf, kLibunwind, kFramePointer };

// Once, before the first capture: the method and the address range of our own code (libunwind
// is set up at its first use).
void init_stack_capture(UnwindMethod method);
// Once per thread, before its first capture, with its allocations kept out of the trace (they
// are heapline's): what the capture needs that may allocate.
void prepare_thread_for_capture();
// Fills `out` with at most `max_depth` frames of the caller's stack, outermost last, and `hash`
// with their stack_hash (stack_hash.h). `start` = here() in the caller: the walk starts there,
// not in capture_stack's own frame (one step fewer).
size_t capture_stack(const WalkStart& start, uint64_t* out, size_t max_depth, uint64_t* hash);
// After dlclose: cached unwind info for the unloaded code must not be used again.
void flush_unwind_cache();

}  // namespace heapline::preload

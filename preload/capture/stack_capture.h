// Call-stack capture with libunwind. Frames are return addresses (the analyzer subtracts one
// before line lookup); the recorder's own frames are dropped.
#pragma once

#include <cstddef>
#include <cstdint>

namespace heapline::preload {

enum class UnwindMethod { kDwarf, kFramePointer };

// Once, before the first capture: the method, libunwind's caching policy, and the address range
// of our own code.
void init_stack_capture(UnwindMethod method);
// Fills `out` with at most `max_depth` frames of the caller's stack, outermost last.
size_t capture_stack(uint64_t* out, size_t max_depth);
// After dlclose: cached unwind info for the unloaded code must not be used again.
void flush_unwind_cache();

}  // namespace heapline::preload

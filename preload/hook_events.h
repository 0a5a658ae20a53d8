// What a hook does with its allocation or free once the real function has run (or, for a free,
// before it runs): record it, queue it for later (a signal handler's call that interrupted the
// recorder), or let it pass. Shared by the C hooks (hooks.cpp) and the C++ operators
// (cxx_hooks.cpp).
//
// Inlined: a frame of ours more would be a frame more for every stack walk.
#pragma once

#include <cstddef>

#include "heapline/trace_format.h"
#include "lifecycle.h"
#include "recorder.h"
#include "sampler.h"
#include "signal_queue.h"

namespace heapline::preload {

// `site`: the hook's return address, the one frame of a queued allocation's stack.
__attribute__((always_inline)) inline void after_alloc(const HookScope& scope, void* p,
                                                       size_t size, format::AllocApi api,
                                                       const void* site) {
  if (!p) return;
  if (scope.may_record()) {
    if (should_sample(t_state, size)) {
      Recording recording(scope);
      record_alloc(p, size, api);
    }
  } else if (scope.must_queue()) {
    queue_alloc(p, size, api, site);
  }
}

// Before the real free: an address freed here may be another thread's allocation next.
__attribute__((always_inline)) inline void before_free(const HookScope& scope, void* p,
                                                       format::AllocApi api) {
  if (scope.may_record()) {
    if (should_record_free(p)) {
      Recording recording(scope);
      record_free(p, api);
    }
  } else if (scope.must_queue()) {
    queue_free(p, api);
  }
}

}  // namespace heapline::preload

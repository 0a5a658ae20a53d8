// The interposed allocation API. Every hook is a thin shim: take the phase guard (HookScope),
// forward to the real function, hand the result to the recorder, or to the signal queue when the
// hook is a signal handler's that interrupted the recorder on this thread. Policy lives in
// recorder.cpp/lifecycle.cpp.
//
// Ordering rules that keep the trace consistent across threads:
//  - a free is recorded (and timestamped) BEFORE the real free, an allocation AFTER the real
//    allocation returns, so an address reused by another thread is always seen freed first;
//  - realloc is a free dated before the real call plus an allocation dated after it;
//  - free(NULL) and failed allocations are not events;
//  - a signal handler's calls between realloc's real call and its records are queued and written
//    after them: the real realloc may free the old block and the handler's malloc get it back
//    before the free of it is written.
#include <dlfcn.h>
#include <signal.h>
#include <link.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>

#include "bootstrap_pool.h"
#include "capture/module_map.h"
#include "capture/stack_capture.h"
#include "fork_gate.h"
#include "hook_events.h"
#include "lifecycle.h"
#include "loader_walks.h"
#include "real_functions.h"
#include "recorder.h"
#include "sampler.h"
#include "signal_queue.h"

#define HEAPLINE_EXPORT __attribute__((visibility("default")))
// The full path of a hook, kept out of line so that the sampling mode's fast path in front of
// it (sampler.h) compiles to a few instructions and a tail call, with no registers to save.
// It gets the hook's return address from the exported function.
#define HEAPLINE_FULL_PATH static __attribute__((noinline))

using heapline::format::AllocApi;
using heapline::format::ExitKind;
namespace hp = heapline::preload;
namespace pool = heapline::preload::bootstrap_pool;

namespace {

// True when the real functions can be called. False only for a nested call before they are known
// (the allocations dlsym itself makes while this thread resolves them, or a signal handler's
// that interrupted the resolving): those come from the bootstrap pool.
inline bool have_real(const hp::HookScope& scope) {
  if (__builtin_expect(hp::real_functions_ready(), 1)) return true;
  if (!scope.outermost()) return false;
  hp::resolve_real_functions();
  return true;
}

// realloc and reallocarray once the real functions are known and `old` is not the pool's.
// `total` is the new size in bytes.
__attribute__((always_inline)) inline void* traced_realloc(const hp::HookScope& scope, void* old,
                                                           size_t total, AllocApi api,
                                                           const void* site) {
  if (scope.may_record()) {
    const uint64_t before = hp::trace_clock();
    hp::RecorderPhase phase;  // handlers' calls from here on are queued (see the top of the file)
    void* p = hp::real.realloc(old, total);
    hp::RecorderSection section(scope.may_wait());
    // glibc's realloc(p, 0) frees p and returns NULL; any other NULL is a failure (p untouched).
    if (old && (p || total == 0) && hp::should_record_free(old)) hp::record_free(old, api, before);
    if (p && hp::should_sample(hp::t_state, total)) hp::record_alloc(p, total, api);
    return p;
  }
  if (!scope.must_queue()) return hp::real.realloc(old, total);
  const uint64_t before = hp::trace_clock();
  void* p = hp::real.realloc(old, total);
  if (old && (p || total == 0)) hp::queue_free_at(old, api, before);
  if (p) hp::queue_alloc(p, total, api, site);
  return p;
}

// Moves a bootstrap-pool block (or null) into a real block of `size` bytes.
void* move_out_of_pool(void* old, size_t size) {
  void* p = hp::real.malloc(size);
  if (p && old) memcpy(p, old, std::min(size, pool::usable_size(old)));
  return p;
}

// realloc before the real functions are known: the new block comes from the pool as well.
void* move_out_of_pool_bootstrap(void* old, size_t size) {
  void* p = pool::allocate(size);
  if (p && old) memcpy(p, old, std::min(size, pool::usable_size(old)));
  return p;
}

}  // namespace

extern "C" {

HEAPLINE_FULL_PATH void* malloc_full(size_t size, const void* site) {
  hp::HookScope scope;
  if (!have_real(scope)) return pool::allocate(size);
  void* p = hp::real.malloc(size);
  hp::after_alloc(scope, p, size, AllocApi::kMalloc, site);
  return p;
}

HEAPLINE_EXPORT void* malloc(size_t size) {
  if (hp::sampling_skips_alloc(size)) return hp::real.malloc(size);
  return malloc_full(size, __builtin_return_address(0));
}

HEAPLINE_FULL_PATH void free_full(void* p) {
  if (!p || pool::owns(p)) return;
  hp::HookScope scope;
  have_real(scope);
  hp::before_free(scope, p, AllocApi::kFree);
  hp::real.free(p);
}

HEAPLINE_EXPORT void free(void* p) {
  if (hp::sampling_skips_free(p)) return hp::real.free(p);
  free_full(p);
}

HEAPLINE_FULL_PATH void* calloc_full(size_t count, size_t size, const void* site) {
  hp::HookScope scope;
  if (!have_real(scope)) {
    size_t total;
    return __builtin_mul_overflow(count, size, &total) ? nullptr : pool::allocate(total);
  }
  void* p = hp::real.calloc(count, size);  // the real calloc detects count*size overflow
  hp::after_alloc(scope, p, count * size, AllocApi::kCalloc, site);
  return p;
}

HEAPLINE_EXPORT void* calloc(size_t count, size_t size) {
  size_t bytes;
  if (!__builtin_mul_overflow(count, size, &bytes) && hp::sampling_skips_alloc(bytes))
    return hp::real.calloc(count, size);
  return calloc_full(count, size, __builtin_return_address(0));
}

HEAPLINE_FULL_PATH void* realloc_full(void* old, size_t size, const void* site) {
  hp::HookScope scope;
  if (!have_real(scope)) return move_out_of_pool_bootstrap(old, size);
  if (pool::owns(old)) {
    void* p = move_out_of_pool(old, size);
    hp::after_alloc(scope, p, size, AllocApi::kRealloc, site);
    return p;
  }
  return traced_realloc(scope, old, size, AllocApi::kRealloc, site);
}

HEAPLINE_EXPORT void* realloc(void* old, size_t size) {
  if (hp::sampling_skips_free(old) && hp::sampling_skips_alloc(size))
    return hp::real.realloc(old, size);
  return realloc_full(old, size, __builtin_return_address(0));
}

// glibc's reallocarray is this overflow check and a call of realloc, through the PLT, i.e. of
// the realloc hook: called from here it would be a nested call, taken for a signal handler's.
// So the real realloc is called directly, as glibc would.
HEAPLINE_EXPORT void* reallocarray(void* old, size_t count, size_t size) {
  hp::HookScope scope;
  size_t total;
  if (__builtin_mul_overflow(count, size, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  if (!have_real(scope)) return move_out_of_pool_bootstrap(old, total);
  if (pool::owns(old)) {
    void* p = move_out_of_pool(old, total);
    hp::after_alloc(scope, p, total, AllocApi::kReallocArray, __builtin_return_address(0));
    return p;
  }
  return traced_realloc(scope, old, total, AllocApi::kReallocArray, __builtin_return_address(0));
}

HEAPLINE_EXPORT int posix_memalign(void** out, size_t alignment, size_t size) {
  hp::HookScope scope;
  if (!have_real(scope)) {
    *out = pool::allocate(size, alignment);
    return *out ? 0 : ENOMEM;
  }
  const int rc = hp::real.posix_memalign(out, alignment, size);
  if (rc == 0)
    hp::after_alloc(scope, *out, size, AllocApi::kPosixMemalign, __builtin_return_address(0));
  return rc;
}

HEAPLINE_EXPORT void* aligned_alloc(size_t alignment, size_t size) {
  hp::HookScope scope;
  if (!have_real(scope)) return pool::allocate(size, alignment);
  void* p = hp::real.aligned_alloc(alignment, size);
  hp::after_alloc(scope, p, size, AllocApi::kAlignedAlloc, __builtin_return_address(0));
  return p;
}

HEAPLINE_EXPORT void* memalign(size_t alignment, size_t size) {
  hp::HookScope scope;
  if (!have_real(scope)) return pool::allocate(size, alignment);
  void* p = hp::real.memalign(alignment, size);
  hp::after_alloc(scope, p, size, AllocApi::kMemalign, __builtin_return_address(0));
  return p;
}

HEAPLINE_EXPORT void* valloc(size_t size) {
  hp::HookScope scope;
  if (!have_real(scope)) return pool::allocate(size, 4096);
  void* p = hp::real.valloc(size);
  hp::after_alloc(scope, p, size, AllocApi::kValloc, __builtin_return_address(0));
  return p;
}

HEAPLINE_EXPORT void* pvalloc(size_t size) {
  hp::HookScope scope;
  if (!have_real(scope)) return pool::allocate(size, 4096);
  void* p = hp::real.pvalloc(size);
  hp::after_alloc(scope, p, size, AllocApi::kPvalloc, __builtin_return_address(0));
  return p;
}

HEAPLINE_EXPORT size_t malloc_usable_size(void* p) {
  if (!p) return 0;
  if (pool::owns(p)) return pool::usable_size(p);
  hp::HookScope scope;
  have_real(scope);
  return hp::real.malloc_usable_size(p);
}

HEAPLINE_EXPORT void* dlopen(const char* file, int mode) {
  {
    hp::HookScope scope;
    have_real(scope);
  }
  // No guard around the real call: the constructors of the opened library are the target's code.
  // Counted as a loader walk: dlopen takes the loader's write lock too (see loader_walks.h).
  void* handle;
  {
    hp::LoaderWalk walk;
    handle = hp::real.dlopen(file, mode);
  }
  hp::HookScope scope;
  if (handle && scope.may_record()) {
    hp::RecorderPhase phase;
    hp::record_module_changes(hp::trace_clock());
  }
  return handle;
}

HEAPLINE_EXPORT int dlclose(void* handle) {
  {
    hp::HookScope scope;
    have_real(scope);
  }
  int rc;
  {
    hp::LoaderWalk walk;
    rc = hp::real.dlclose(handle);
  }
  hp::HookScope scope;
  if (rc == 0 && scope.may_record()) {
    hp::RecorderPhase phase;
    {
      hp::InternalPhase internal;  // libunwind's cache
      hp::flush_unwind_cache();
    }
    hp::record_module_changes(hp::trace_clock());
  }
  return rc;
}

// Counted so that fork can wait for walks in progress (see loader_walks.h). Our own walks
// (module scans, libunwind's lookups) come through here as well.
HEAPLINE_EXPORT int dl_iterate_phdr(int (*callback)(dl_phdr_info*, size_t, void*), void* data) {
  if (!hp::real_functions_ready()) hp::resolve_real_functions();
  hp::LoaderWalk walk;
  return hp::real.dl_iterate_phdr(callback, data);
}

HEAPLINE_EXPORT void _exit(int status) {
  hp::record_process_exit(ExitKind::kUnderscoreExit, status);
  if (hp::real.exit_underscore) hp::real.exit_underscore(status);
  syscall(SYS_exit_group, status);
  __builtin_unreachable();
}

HEAPLINE_EXPORT void _Exit(int status) { _exit(status); }

// abort() (also what an uncaught C++ exception ends in): say so before the signal kills us.
HEAPLINE_EXPORT void abort() {
  hp::record_process_exit(ExitKind::kSignal, SIGABRT);
  if (hp::real.abort) hp::real.abort();
  raise(SIGABRT);
  syscall(SYS_exit_group, 128 + SIGABRT);
  __builtin_unreachable();
}

}  // extern "C"

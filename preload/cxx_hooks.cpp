// operator new and delete in every form the C++ runtime defines (plain, array, nothrow, sized,
// aligned). Each forwards to libstdc++'s own operator (resolved by mangled name in
// real_functions.cpp), which then calls malloc/free: those nested calls run in kInternal and are
// not recorded, so one `new` is one event, recorded as the outer call. Exceptions (std::bad_alloc)
// come from the real operator and propagate exactly as they would without heapline.
#include <dlfcn.h>
#include <link.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>

#include "bootstrap_pool.h"
#include "fork_gate.h"
#include "hook_events.h"
#include "lifecycle.h"
#include "real_functions.h"
#include "recorder.h"
#include "sampler.h"
#include "signal_queue.h"

#define HEAPLINE_EXPORT __attribute__((visibility("default")))

using heapline::format::AllocApi;
namespace hp = heapline::preload;

namespace {

void ensure_real() {
  if (!hp::real_functions_ready()) hp::resolve_real_functions();
}

// Whether the operators we forward to are libstdc++'s own, which are exactly malloc/free plus
// the new_handler loop and std::bad_alloc on failure. Then the fast path calls malloc and free
// directly and skips a second pass through our hooks (libstdc++'s new calls our malloc); only a
// failed malloc goes the runtime's way. An operator from any other library (a custom allocator,
// tcmalloc's own) is always called as it is.
enum class Shortcut { kUnknown, kYes, kNo };
std::atomic<Shortcut> g_shortcut{Shortcut::kUnknown};

// Whether `function` is in libstdc++. _dl_find_object, not dladdr: dladdr also looks for the
// nearest symbol, a scan of the object's whole symbol table (~320 k instructions for
// libstdc++'s, a third of what the recorder's start-up costs a short run).
bool in_libstdcxx(void* function) {
  dl_find_object found{};
  return function && _dl_find_object(function, &found) == 0 && found.dlfo_link_map &&
         found.dlfo_link_map->l_name && strstr(found.dlfo_link_map->l_name, "libstdc++");
}

bool runtime_is_libstdcxx() {
  Shortcut s = g_shortcut.load(std::memory_order_relaxed);
  if (__builtin_expect(s != Shortcut::kUnknown, 1)) return s == Shortcut::kYes;
  hp::InternalPhase internal;
  const bool yes = hp::real.op_new_array && hp::real.op_delete_array &&
                   in_libstdcxx(reinterpret_cast<void*>(hp::real.op_new)) &&
                   in_libstdcxx(reinterpret_cast<void*>(hp::real.op_delete));
  g_shortcut.store(yes ? Shortcut::kYes : Shortcut::kNo, std::memory_order_relaxed);
  return yes;
}

// Sampling mode's fast paths (see sampler.h), for libstdc++'s operators only: theirs are malloc
// and free, so forwarding to those is what the full path does too. Inline, with the full paths
// out of line, so that the exported operators save no registers on the way.
__attribute__((always_inline)) inline bool sampling_skips_new(size_t size) {
  return g_shortcut.load(std::memory_order_relaxed) == Shortcut::kYes &&
         hp::sampling_skips_alloc(size);
}

__attribute__((always_inline)) inline bool sampling_skips_delete(void* p) {
  return g_shortcut.load(std::memory_order_relaxed) == Shortcut::kYes &&
         hp::sampling_skips_free(p);
}

// The real free, called as what it is, noexcept (glibc declares it so; so does our hook): the
// delete operators are noexcept, and their call of a function that might throw would need a
// landing pad (std::terminate), which keeps it from being a tail call.
__attribute__((always_inline)) inline void real_free(void* p) noexcept {
  reinterpret_cast<decltype(&::free)>(hp::real.free)(p);
}

// A fast-path malloc that failed: the runtime's way (new_handler, std::bad_alloc), its bytes
// already counted, and not recorded (a retry that succeeds is short of a sample point too).
// The fast path calls malloc(0) for new(0), not malloc(1) as libstdc++ does: glibc's (like
// jemalloc's and tcmalloc's) returns a unique block for it, and one that returned null would
// send new(0) here, to libstdc++'s own operator, which asks for 1 byte.
__attribute__((noinline)) void* new_after_failed_malloc(size_t size, void* (*real_new)(size_t)) {
  hp::InternalPhase internal;
  return real_new(size);
}

// `site`: the operator's return address (the one frame of a queued allocation's stack).
__attribute__((noinline)) void* new_impl(size_t size, AllocApi api, void* (*real_new)(size_t),
                                          const void* site) {
  hp::HookScope scope;
  ensure_real();
  void* p = runtime_is_libstdcxx() ? hp::real.malloc(size ? size : 1) : nullptr;
  if (!p) {
    // Failure: new_handler and std::bad_alloc, as the runtime does. Its malloc is not an event.
    hp::InternalPhase internal;
    p = real_new(size);
  }
  hp::after_alloc(scope, p, size, api, site);
  return p;
}

void* new_aligned_impl(size_t size, size_t alignment, AllocApi api,
                       void* (*real_new)(size_t, size_t), const void* site) {
  hp::HookScope scope;
  ensure_real();
  void* p;
  {
    hp::InternalPhase internal;  // it calls aligned_alloc
    p = real_new(size, alignment);
  }
  hp::after_alloc(scope, p, size, api, site);
  return p;
}

__attribute__((noinline)) void delete_impl(void* p, AllocApi api, void (*real_delete)(void*)) {
  if (!p || heapline::preload::bootstrap_pool::owns(p)) return;
  hp::HookScope scope;
  ensure_real();
  hp::before_free(scope, p, api);
  if (runtime_is_libstdcxx()) {
    hp::real.free(p);
  } else {
    hp::InternalPhase internal;
    real_delete(p);
  }
}

void delete_aligned_impl(void* p, size_t alignment, AllocApi api,
                         void (*real_delete)(void*, size_t)) {
  if (!p) return;
  hp::HookScope scope;
  ensure_real();
  hp::before_free(scope, p, api);
  hp::InternalPhase internal;  // it calls free
  real_delete(p, alignment);
}

// The full paths of the plain operators, out of line (a tail call from the exported operator).
template <auto kRealNew>
__attribute__((noinline)) void* new_full(size_t size, AllocApi api, const void* site) {
  ensure_real();
  return new_impl(size, api, hp::real.*kRealNew, site);
}
template <auto kRealDelete>
__attribute__((noinline)) void delete_full(void* p, AllocApi api) noexcept {
  ensure_real();
  delete_impl(p, api, hp::real.*kRealDelete);
}

}  // namespace

HEAPLINE_EXPORT void* operator new(size_t size) {
  if (sampling_skips_new(size)) {
    if (void* p = hp::real.malloc(size)) return p;
    return new_after_failed_malloc(size, hp::real.op_new);
  }
  return new_full<&hp::RealFunctions::op_new>(size, AllocApi::kNew, __builtin_return_address(0));
}
HEAPLINE_EXPORT void* operator new[](size_t size) {
  if (sampling_skips_new(size)) {
    if (void* p = hp::real.malloc(size)) return p;
    return new_after_failed_malloc(size, hp::real.op_new_array);
  }
  return new_full<&hp::RealFunctions::op_new_array>(size, AllocApi::kNewArray,
                                                    __builtin_return_address(0));
}
HEAPLINE_EXPORT void* operator new(size_t size, const std::nothrow_t&) noexcept {
  ensure_real();
  try {
    return new_impl(size, AllocApi::kNew, hp::real.op_new, __builtin_return_address(0));
  } catch (...) {
    return nullptr;
  }
}
HEAPLINE_EXPORT void* operator new[](size_t size, const std::nothrow_t&) noexcept {
  ensure_real();
  try {
    return new_impl(size, AllocApi::kNewArray, hp::real.op_new_array, __builtin_return_address(0));
  } catch (...) {
    return nullptr;
  }
}
HEAPLINE_EXPORT void* operator new(size_t size, std::align_val_t al) {
  ensure_real();
  return new_aligned_impl(size, static_cast<size_t>(al), AllocApi::kNew, hp::real.op_new_aligned,
                          __builtin_return_address(0));
}
HEAPLINE_EXPORT void* operator new[](size_t size, std::align_val_t al) {
  ensure_real();
  return new_aligned_impl(size, static_cast<size_t>(al), AllocApi::kNewArray,
                          hp::real.op_new_array_aligned, __builtin_return_address(0));
}
HEAPLINE_EXPORT void* operator new(size_t size, std::align_val_t al, const std::nothrow_t&) noexcept {
  ensure_real();
  try {
    return new_aligned_impl(size, static_cast<size_t>(al), AllocApi::kNew, hp::real.op_new_aligned,
                            __builtin_return_address(0));
  } catch (...) {
    return nullptr;
  }
}
HEAPLINE_EXPORT void* operator new[](size_t size, std::align_val_t al, const std::nothrow_t&) noexcept {
  ensure_real();
  try {
    return new_aligned_impl(size, static_cast<size_t>(al), AllocApi::kNewArray,
                            hp::real.op_new_array_aligned, __builtin_return_address(0));
  } catch (...) {
    return nullptr;
  }
}

// The sized and nothrow deletes do what the plain ones do (libstdc++'s sized forms call the
// unsized ones), inlined: a call of the exported operator would go through the PLT, and the
// sized form is what the standard containers call.
namespace {
__attribute__((always_inline)) inline void delete_plain(void* p) noexcept {
  if (sampling_skips_delete(p)) return real_free(p);
  delete_full<&hp::RealFunctions::op_delete>(p, AllocApi::kDelete);
}
__attribute__((always_inline)) inline void delete_array(void* p) noexcept {
  if (sampling_skips_delete(p)) return real_free(p);
  delete_full<&hp::RealFunctions::op_delete_array>(p, AllocApi::kDeleteArray);
}
}  // namespace

HEAPLINE_EXPORT void operator delete(void* p) noexcept { delete_plain(p); }
HEAPLINE_EXPORT void operator delete[](void* p) noexcept { delete_array(p); }
HEAPLINE_EXPORT void operator delete(void* p, size_t) noexcept { delete_plain(p); }
HEAPLINE_EXPORT void operator delete[](void* p, size_t) noexcept { delete_array(p); }
HEAPLINE_EXPORT void operator delete(void* p, const std::nothrow_t&) noexcept { delete_plain(p); }
HEAPLINE_EXPORT void operator delete[](void* p, const std::nothrow_t&) noexcept { delete_array(p); }
HEAPLINE_EXPORT void operator delete(void* p, std::align_val_t al) noexcept {
  ensure_real();
  delete_aligned_impl(p, static_cast<size_t>(al), AllocApi::kDelete, hp::real.op_delete_aligned);
}
HEAPLINE_EXPORT void operator delete[](void* p, std::align_val_t al) noexcept {
  ensure_real();
  delete_aligned_impl(p, static_cast<size_t>(al), AllocApi::kDeleteArray,
                      hp::real.op_delete_array_aligned);
}
HEAPLINE_EXPORT void operator delete(void* p, size_t, std::align_val_t al) noexcept {
  operator delete(p, al);
}
HEAPLINE_EXPORT void operator delete[](void* p, size_t, std::align_val_t al) noexcept {
  operator delete[](p, al);
}
HEAPLINE_EXPORT void operator delete(void* p, std::align_val_t al, const std::nothrow_t&) noexcept {
  operator delete(p, al);
}
HEAPLINE_EXPORT void operator delete[](void* p, std::align_val_t al, const std::nothrow_t&) noexcept {
  operator delete[](p, al);
}

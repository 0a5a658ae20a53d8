#include "stack_capture.h"

#define UNW_LOCAL_ONLY
#include <dlfcn.h>
#include <libunwind.h>
#include <link.h>
#include <pthread.h>

#include <atomic>

#include "heapline/trace_format.h"
#include "rule_walk.h"
#include "stack_hash.h"
#include "unwind_rule_cache.h"

namespace heapline::preload {
namespace {

uintptr_t g_self_begin = 0;  // [begin, end) of this library's executable segment
uintptr_t g_self_end = 0;

int find_self(dl_phdr_info* info, size_t, void* probe) {
  const auto addr = reinterpret_cast<uintptr_t>(probe);
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X)) continue;
    const uintptr_t begin = info->dlpi_addr + ph.p_vaddr;
    const uintptr_t end = begin + ph.p_memsz;
    if (addr >= begin && addr < end) {
      g_self_begin = begin;
      g_self_end = end;
      return 1;
    }
  }
  return 0;
}

UnwindMethod g_method = UnwindMethod::kDwarf;

// libunwind's set-up waits for its first use: in kDwarf mode most runs never need it, and its
// initialization (a pipe for its memory probes, its caches' pages: ~70 page faults and 140 000
// instructions) was a tenth of a short sampled run's cost.
std::atomic<bool> g_libunwind_ready{false};

int libunwind_backtrace(void** frames, int max) {
  if (__builtin_expect(!g_libunwind_ready.load(std::memory_order_acquire), 0) &&
      !g_libunwind_ready.exchange(true, std::memory_order_acq_rel)) {
    // Per-thread caches: no lock shared between threads while unwinding. (A thread racing the
    // first one here unwinds once with the default, global cache: right, only slower.)
    unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
  }
  return unw_backtrace(frames, max);
}

// Bounds of this thread's stack, so that a frame-pointer walk never reads outside it.
struct StackBounds {
  uintptr_t low = 0, high = 0;
  bool tried = false;
};
thread_local StackBounds t_bounds __attribute__((tls_model("initial-exec")));

// Once per thread, from prepare_thread_for_capture: pthread_getattr_np allocates (and for the
// main thread reads /proc/self/maps through stdio), which the capture itself must not.
bool stack_bounds(StackBounds& b) {
  if (b.high) return true;
  if (b.tried) return false;
  b.tried = true;
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) != 0) return false;
  void* addr = nullptr;
  size_t size = 0;
  const bool ok = pthread_attr_getstack(&attr, &addr, &size) == 0;
  pthread_attr_destroy(&attr);
  if (!ok) return false;
  b.low = reinterpret_cast<uintptr_t>(addr);
  b.high = b.low + size;
  return true;
}

// The frame-pointer walk (--unwind=fp): each frame starts with [saved rbp][return address].
// About 1 ns a frame instead of libunwind's ~10, but only right for code built with frame
// pointers: in code without them rbp holds anything, and the walk stops at the first frame
// that does not look like one (outside the stack, or not above the previous frame).
size_t walk_frame_pointers(void** out, size_t max) {
  StackBounds& b = t_bounds;
  if (!stack_bounds(b)) return 0;
  auto fp = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  size_t n = 0;
  // `fp <= high - 16`, not `fp + 16 <= high`: a garbage rbp near 2^64 would wrap past the test.
  while (n < max && fp >= b.low && fp <= b.high - 2 * sizeof(uintptr_t) &&
         fp % sizeof(uintptr_t) == 0) {
    const auto* frame = reinterpret_cast<const uintptr_t*>(fp);
    const uintptr_t ret = frame[1];
    if (ret < 4096) break;
    out[n++] = reinterpret_cast<void*>(ret);
    if (frame[0] <= fp) break;  // callers live at higher addresses
    fp = frame[0];
  }
  return n;
}

}  // namespace

void init_stack_capture(UnwindMethod method) {
  g_method = method;
  if (method == UnwindMethod::kDwarf && !unwind_rule_cache().init()) g_method = UnwindMethod::kLibunwind;
  dl_iterate_phdr(find_self, reinterpret_cast<void*>(&init_stack_capture));
}

size_t capture_stack(const WalkStart& start, uint64_t* out, size_t max_depth, uint64_t* hash) {
  constexpr size_t kSlack = 16;  // room for our own frames, dropped below
  void* frames[format::kMaxStackDepth + kSlack];
  uint64_t hashes[format::kMaxStackDepth + kSlack];
  if (max_depth > format::kMaxStackDepth) max_depth = format::kMaxStackDepth;
  const int max = static_cast<int>(max_depth + kSlack);
  int n = -1;
  bool hashed = false;
  if (g_method == UnwindMethod::kDwarf) {
    n = walk_with_unwind_rules(start, frames, hashes, max);
    hashed = n >= 0;
  } else if (g_method == UnwindMethod::kFramePointer) {
    n = static_cast<int>(walk_frame_pointers(frames, static_cast<size_t>(max)));
  }
  if (n < 0) n = libunwind_backtrace(frames, max);
  size_t skip = 0;
  while (skip < static_cast<size_t>(n)) {
    const auto pc = reinterpret_cast<uintptr_t>(frames[skip]);
    if (pc < g_self_begin || pc >= g_self_end) break;
    ++skip;
  }
  size_t count = 0;
  for (size_t i = skip; i < static_cast<size_t>(n) && count < max_depth; ++i)
    out[count++] = reinterpret_cast<uintptr_t>(frames[i]);
  // The walk's hash of frames [skip, n) names this stack if none was cut off.
  *hash = hashed && skip + count == static_cast<size_t>(n) && skip < static_cast<size_t>(n)
              ? hashes[skip]
              : stack_hash(out, count);
  return count;
}

void prepare_thread_for_capture() {
  if (g_method == UnwindMethod::kFramePointer) stack_bounds(t_bounds);
}

void flush_unwind_cache() {
  unwind_rule_cache().invalidate();
  if (g_libunwind_ready.load(std::memory_order_acquire))
    unw_flush_cache(unw_local_addr_space, 0, 0);
}

}  // namespace heapline::preload

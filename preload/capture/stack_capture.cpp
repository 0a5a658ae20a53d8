#include "stack_capture.h"

#define UNW_LOCAL_ONLY
#include <dlfcn.h>
#include <libunwind.h>
#include <link.h>

#include "heapline/trace_format.h"

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

}  // namespace

void init_stack_capture() {
  // Per-thread caches: no lock shared between threads while unwinding.
  unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
  dl_iterate_phdr(find_self, reinterpret_cast<void*>(&init_stack_capture));
}

size_t capture_stack(uint64_t* out, size_t max_depth) {
  constexpr size_t kSlack = 16;  // room for our own frames, dropped below
  void* frames[format::kMaxStackDepth + kSlack];
  if (max_depth > format::kMaxStackDepth) max_depth = format::kMaxStackDepth;
  const int n = unw_backtrace(frames, static_cast<int>(max_depth + kSlack));
  size_t skip = 0;
  while (skip < static_cast<size_t>(n)) {
    const auto pc = reinterpret_cast<uintptr_t>(frames[skip]);
    if (pc < g_self_begin || pc >= g_self_end) break;
    ++skip;
  }
  size_t count = 0;
  for (size_t i = skip; i < static_cast<size_t>(n) && count < max_depth; ++i)
    out[count++] = reinterpret_cast<uintptr_t>(frames[i]);
  return count;
}

void flush_unwind_cache() { unw_flush_cache(unw_local_addr_space, 0, 0); }

}  // namespace heapline::preload

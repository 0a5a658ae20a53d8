#include "real_functions.h"

#include <dlfcn.h>

#include <atomic>

#include "thread_state.h"

namespace heapline::preload {

RealFunctions real{};

namespace {

std::atomic<int> g_resolve_state{0};  // 0 = not yet, 1 = in progress, 2 = done

// One table of what to resolve: the symbol name and the typed slot it fills.
struct Slot {
  const char* name;
  void** slot;
};

template <typename F>
void** slot_of(F& f) {
  return reinterpret_cast<void**>(&f);
}

}  // namespace

void resolve_real_functions() {
  int expected = 0;
  if (!g_resolve_state.compare_exchange_strong(expected, 1)) {
    while (g_resolve_state.load(std::memory_order_acquire) != 2) {
    }
    return;
  }
  RealFunctions r{};
  const Slot table[] = {
      {"malloc", slot_of(r.malloc)},
      {"free", slot_of(r.free)},
      {"calloc", slot_of(r.calloc)},
      {"realloc", slot_of(r.realloc)},
      {"posix_memalign", slot_of(r.posix_memalign)},
      {"aligned_alloc", slot_of(r.aligned_alloc)},
      {"memalign", slot_of(r.memalign)},
      {"valloc", slot_of(r.valloc)},
      {"pvalloc", slot_of(r.pvalloc)},
      {"malloc_usable_size", slot_of(r.malloc_usable_size)},
      {"dlopen", slot_of(r.dlopen)},
      {"dlclose", slot_of(r.dlclose)},
      {"dl_iterate_phdr", slot_of(r.dl_iterate_phdr)},
      {"_exit", slot_of(r.exit_underscore)},
      {"abort", slot_of(r.abort)},
      {"execve", slot_of(r.execve)},
      {"execvpe", slot_of(r.execvpe)},
      {"fexecve", slot_of(r.fexecve)},
      {"execveat", slot_of(r.execveat)},
      {"_Znwm", slot_of(r.op_new)},
      {"_Znam", slot_of(r.op_new_array)},
      {"_ZnwmSt11align_val_t", slot_of(r.op_new_aligned)},
      {"_ZnamSt11align_val_t", slot_of(r.op_new_array_aligned)},
      {"_ZdlPv", slot_of(r.op_delete)},
      {"_ZdaPv", slot_of(r.op_delete_array)},
      {"_ZdlPvSt11align_val_t", slot_of(r.op_delete_aligned)},
      {"_ZdaPvSt11align_val_t", slot_of(r.op_delete_array_aligned)},
  };
  {
    // dlsym's own allocations come from the bootstrap pool (hooks.cpp, have_real).
    InternalPhase internal;
    for (const Slot& s : table) *s.slot = dlsym(RTLD_NEXT, s.name);
  }
  real = r;
  g_resolve_state.store(2, std::memory_order_release);
}

bool real_functions_ready() { return g_resolve_state.load(std::memory_order_acquire) == 2; }

}  // namespace heapline::preload

#include "rule_walk.h"

#include <sys/mman.h>

#include <atomic>

#include "stack_hash.h"
#include "unwind_rule_cache.h"

namespace heapline::preload {
namespace {

// Frames a thread's cache holds; longer stacks are walked in full every time.
constexpr int kCapacity = 96;

struct CachedFrame {
  uintptr_t pc, sp, rbp;     // registers when the walk reached this frame
  const uintptr_t* ra_slot;   // where the step to the caller read the caller's pc (null: none)
  const uintptr_t* rbp_slot;  // where it read the caller's rbp (null: rbp passed through)
  uint64_t hash;              // of this frame and its callers (stack_hash.h)
  bool cfa_from_rbp;          // this frame's step read rbp
  bool rbp_needed;            // the walk from this frame down reads this frame's rbp
};

struct ThreadStackCache {
  // [1] = the outermost frame .. [count] = the innermost; [0] stands below the outermost frame
  // with pc 0, what the last step of a chain ending in a zero return address read.
  CachedFrame frames[kCapacity + 1];
  CachedFrame walked[kCapacity];  // the current walk's frames, innermost first
  int count;                      // 0 = nothing cached
  uint32_t generation;            // of the rule cache, when the frames were cached
  bool busy;                      // a walk is using it (a signal handler's walk must not)
};

thread_local ThreadStackCache* t_cache __attribute__((tls_model("initial-exec"))) = nullptr;
thread_local bool t_cache_released __attribute__((tls_model("initial-exec"))) = false;
thread_local uint64_t t_joins __attribute__((tls_model("initial-exec"))) = 0;

// mmap, not malloc: nothing of the recorder goes through the hooked allocator. Zero-filled
// memory is an empty cache.
ThreadStackCache* thread_cache() {
  if (__builtin_expect(t_cache != nullptr, 1)) return t_cache;
  if (t_cache_released) return nullptr;
  void* mem = mmap(nullptr, sizeof(ThreadStackCache), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    t_cache_released = true;
    return nullptr;
  }
  t_cache = static_cast<ThreadStackCache*>(mem);
  return t_cache;
}

// Whether the cached frames [1, top] still hold: every slot their walk read, read again in the
// walk's order (so nothing is read that a walk would not read), still holds the same word.
// Returns 0 if so, else the frame whose step read a changed word (no frame at or above it can
// be joined either: their checks include that step).
int first_changed(const ThreadStackCache& c, int top) {
  for (int i = top; i >= 1; --i) {
    const CachedFrame& f = c.frames[i];
    if (f.ra_slot && *f.ra_slot != c.frames[i - 1].pc) return i;
    if (f.rbp_slot && *f.rbp_slot != c.frames[i - 1].rbp) return i;
  }
  return 0;
}

// Stores this walk's `n` frames above the cached frames [1, joined] they joined (0: none).
void remember(ThreadStackCache& c, int joined, int n, const uint64_t* hashes, uint32_t generation) {
  const int count = joined + n;
  if (n > kCapacity || count > kCapacity) {
    c.count = 0;
    return;
  }
  for (int i = 0; i < n; ++i) {
    CachedFrame& f = c.frames[count - i];
    f = c.walked[i];
    f.hash = hashes[i];
  }
  for (int j = joined + 1; j <= count; ++j) {
    CachedFrame& f = c.frames[j];
    // The outermost frame keeps what its walk said (it needs rbp if the chain ended on it).
    if (f.ra_slot) f.rbp_needed = f.cfa_from_rbp || (!f.rbp_slot && c.frames[j - 1].rbp_needed);
  }
  c.count = count;
  c.generation = generation;
}

template <bool kUseCache>
__attribute__((always_inline)) inline int walk(const WalkStart& start, void** out, uint64_t* hashes,
                                              int max) {
  // The first frame's rule is looked up at exactly its pc (not a return address).
  uintptr_t pc = start.pc, sp = start.sp, rbp = start.rbp;
  ThreadStackCache* cache = nullptr;
  if (kUseCache) {
    cache = thread_cache();
    if (cache && cache->busy) cache = nullptr;
    if (cache) {
      cache->busy = true;
      std::atomic_signal_fence(std::memory_order_seq_cst);
    }
  }
  UnwindRuleCache& rules = unwind_rule_cache();
  const uint32_t generation = rules.generation();
  // The cached frame the walk may join next; cached frames lie at higher sp as the index falls.
  int candidate = cache && cache->generation == generation ? cache->count : 0;
  int joined = 0;
  bool complete = false;
  bool is_return_address = false;
  int n = 0;
  while (n < max) {
    out[n] = reinterpret_cast<void*>(pc);
    if (candidate > 0) {
      while (candidate > 0 && cache->frames[candidate].sp < sp) --candidate;
      if (candidate > 0) {
        const CachedFrame& f = cache->frames[candidate];
        if (f.sp == sp && f.pc == pc && (!f.rbp_needed || f.rbp == rbp)) {
          const int changed = first_changed(*cache, candidate);
          if (changed == 0) {
            joined = candidate;
            ++t_joins;
            break;
          }
          // Only frames below the changed step can be joined now.
          candidate = changed - 1;
        }
      }
    }
    const UnwindRule rule = rules.rule_for(pc, is_return_address, generation);
    CachedFrame* w = cache && n < kCapacity ? &cache->walked[n] : nullptr;
    if (w) *w = CachedFrame{pc, sp, rbp, nullptr, nullptr, 0, false, false};
    ++n;
    if (rule.kind == UnwindRule::kOutermost) {
      complete = true;
      break;
    }
    if (rule.kind != UnwindRule::kStep) {
      // Code without unwind info and rbp 0: the end of the chain, where libunwind ends it (this
      // saves a C++ program's first allocation, libstdc++'s from the loader's _dl_start_user, a
      // libunwind walk). The decision reads rbp: a cached walk joins here only with rbp 0 again.
      if (rule.no_info && rbp == 0) {
        if (w) w->rbp_needed = true;
        complete = true;
        break;
      }
      n = -1;
      break;
    }
    const uintptr_t cfa = (rule.cfa_from_rbp ? rbp : sp) + static_cast<intptr_t>(rule.cfa_offset);
    // Callers live at higher addresses; anything else means a stack we do not understand (a
    // switch to another stack, or wrong unwind info): let libunwind judge it.
    if (cfa <= sp) {
      n = -1;
      break;
    }
    const auto* ra_slot = reinterpret_cast<const uintptr_t*>(cfa + static_cast<intptr_t>(rule.ra_offset));
    pc = *ra_slot;
    const uintptr_t* rbp_slot = nullptr;
    if (rule.rbp_saved) {
      rbp_slot = reinterpret_cast<const uintptr_t*>(cfa + static_cast<intptr_t>(rule.rbp_offset));
      rbp = *rbp_slot;
    }
    sp = cfa;
    if (w) {
      w->ra_slot = ra_slot;
      w->rbp_slot = pc != 0 ? rbp_slot : nullptr;  // after the last frame rbp is never used
      w->cfa_from_rbp = rule.cfa_from_rbp;
    }
    if (pc == 0) {  // the end of the chain, as libunwind ends it
      complete = true;
      break;
    }
    is_return_address = true;
  }
  int total = n;
  if (n >= 0) {
    bool cut = !complete && !joined;  // stopped at `max`: the hashes are of the list as cut
    uint64_t callers_hash = kStackHashSeed;
    if (joined) {
      // out[n] is the joined frame; the cached frames below it follow.
      for (int i = joined; i >= 1 && !cut; --i) {
        if (total == max) {
          cut = true;
        } else {
          out[total] = reinterpret_cast<void*>(cache->frames[i].pc);
          hashes[total++] = cache->frames[i].hash;
        }
      }
      if (cut) {
        for (int i = total - 1; i >= n; --i)
          hashes[i] = callers_hash = stack_hash_step(callers_hash, reinterpret_cast<uintptr_t>(out[i]));
      } else {
        callers_hash = cache->frames[joined].hash;
      }
    }
    for (int i = n - 1; i >= 0; --i)
      hashes[i] = callers_hash = stack_hash_step(callers_hash, reinterpret_cast<uintptr_t>(out[i]));
    if (cache && !cut) remember(*cache, joined, n, hashes, generation);
  }
  if (cache) {
    std::atomic_signal_fence(std::memory_order_seq_cst);
    cache->busy = false;
  }
  return total;
}

}  // namespace

int walk_with_unwind_rules(const WalkStart& start, void** out, uint64_t* hashes, int max) {
  return walk<true>(start, out, hashes, max);
}

int walk_with_unwind_rules_uncached(const WalkStart& start, void** out, uint64_t* hashes, int max) {
  return walk<false>(start, out, hashes, max);
}

uint64_t thread_stack_cache_joins() { return t_joins; }

void release_thread_stack_cache() {
  ThreadStackCache* cache = t_cache;
  t_cache_released = true;
  t_cache = nullptr;
  if (cache && !cache->busy) munmap(cache, sizeof(ThreadStackCache));
}

}  // namespace heapline::preload

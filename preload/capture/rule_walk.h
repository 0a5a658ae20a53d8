// The default stack walk: cached per-address unwind rules (unwind_rule_cache.h), and a per-thread
// cache of the last stack walked, so that the outer frames a new stack shares with it are taken
// from there instead of walked again.
//
// Why the reuse is exact: a rule walk is a function of the registers it starts from (pc, sp and,
// where a rule needs it, rbp), the rules of the pcs it meets, and the words it reads from the
// stack (each frame's return-address slot and, where saved, rbp's slot). When the walk reaches
// a frame whose pc, sp (and rbp, if a frame below reads it) equal a cached frame's, the cache
// re-reads every slot the cached walk read below that frame, in the same order, and keeps the
// cached frames only if every word is unchanged: then a walk would have read the same words at
// the same addresses and produced the same frames. The check is one load per slot and the loads
// do not depend on each other, where a walk is a chain of dependent loads and lookups. A function
// called again at the same depth from another caller fails the check at its return-address slot;
// dlclose (new rules) empties the cache; stacks cut off at the depth limit, or that need
// libunwind (signal frames, code without unwind info), are not cached.
#pragma once

#include <cstdint>

namespace heapline::preload {

// Where a walk starts: the registers at one point of a function whose frame is live during the
// walk (its caller's, when here() is inlined into it).
struct WalkStart {
  uintptr_t pc, sp, rbp;
};
__attribute__((always_inline)) inline WalkStart here() {
  WalkStart at;
  // rbp is read first: the compiler may give an output rbp itself.
  asm volatile(
      "movq %%rbp, %2\n\t"
      "leaq 0(%%rip), %0\n\t"
      "movq %%rsp, %1"
      : "=&r"(at.pc), "=&r"(at.sp), "=&r"(at.rbp));
  return at;
}

// Walks the stack from `start`, whose frame must still be live: raw pcs, innermost first, and
// for each frame i the hash (stack_hash.h) of frames [i, n). Returns n, or -1 if some frame
// needs libunwind.
int walk_with_unwind_rules(const WalkStart& start, void** out, uint64_t* hashes, int max);

// The same walk without the per-thread cache (for the tests that compare the two).
int walk_with_unwind_rules_uncached(const WalkStart& start, void** out, uint64_t* hashes, int max);

// How many walks on this thread took frames from its cache (for tests).
uint64_t thread_stack_cache_joins();

// At thread exit: unmaps this thread's cache; later walks on the thread do without one.
void release_thread_stack_cache();

}  // namespace heapline::preload

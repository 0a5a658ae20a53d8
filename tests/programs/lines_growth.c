// Known truth for the per-line tests (tests/lines/): each marked line has one allocation
// behaviour, and the tests find the lines by their "@" markers.
//
//   - @temp        1000 x 1 KiB allocated and freed at once, before anything else is live
//   - @big_call    calls make_big(), which allocates 64 KiB at @big_alloc and keeps it
//   - @rec_call_main  calls recurse(3): @rec_call is then on the stack three times, and one 4 KiB
//                  block is kept at @rec_alloc
//   - @keep        1000 x 1 KiB kept, one per iteration of a loop that sleeps 1 ms per iteration:
//                  a steady leak over the whole run
//   - @cache_call  puts into a cache of at most 64 x 2 KiB entries (@cache_alloc), evicting the
//                  oldest when full: grows for 64 iterations, then stays flat
// Arguments: "free" frees everything still live just before main returns; "fast" skips the
// sleeps (a run of a few milliseconds, for tests that need a trace but no slope).
// No stdio: the program must not allocate anything else.
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { kIterations = 1000, kCacheEntries = 64, kCacheEntry = 2048 };

void* volatile g_kept[kIterations];  // volatile: -O2 may not drop allocations nobody reads
void* volatile g_cache[kCacheEntries];
void* volatile g_sink;

__attribute__((noinline)) static void* make_big(void) {
  void* p = malloc(64 * 1024);  // @big_alloc
  memset(p, 1, 64 * 1024);
  return p;
}

__attribute__((noinline)) static void cache_put(int key) {
  const int slot = key % kCacheEntries;
  free(g_cache[slot]);  // evict the oldest entry once the cache is full
  g_cache[slot] = malloc(kCacheEntry);  // @cache_alloc
}

__attribute__((noinline)) static void* recurse(int depth) {
  void* p;
  if (depth == 0) p = malloc(4096);  // @rec_alloc
  else p = recurse(depth - 1);  // @rec_call
  // Not tail calls: every frame stays on the stack.
  __asm__ volatile("" : : "r"(p) : "memory");
  return p;
}

int main(int argc, char** argv) {
  int free_at_exit = 0, fast = 0;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "free") == 0) free_at_exit = 1;
    if (strcmp(argv[i], "fast") == 0) fast = 1;
  }
  for (int i = 0; i < kIterations; ++i) {
    void* t = malloc(1024);  // @temp
    g_sink = t;
    free(t);
  }
  void* big = make_big();  // @big_call
  void* rec = recurse(3);  // @rec_call_main
  for (int i = 0; i < kIterations; ++i) {
    g_kept[i] = malloc(1024);  // @keep
    cache_put(i);  // @cache_call
    if (!fast) usleep(1000);
  }
  if (free_at_exit) {
    for (int i = 0; i < kIterations; ++i) free(g_kept[i]);
    for (int i = 0; i < kCacheEntries; ++i) free(g_cache[i]);
    free(big);
    free(rec);
  }
  return 0;
}

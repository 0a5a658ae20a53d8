// A workload with known allocations for the sampler tests: per site, a known number of blocks of
// known sizes. Each site is its own function so that it is its own line in the report.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SMALL 64
#define MEDIUM 1000
#define LARGE 50000

// Every block escapes through a volatile pointer: the compiler may not elide a malloc+free pair.
void* volatile g_sink;
void* keep[3000];
int kept;

__attribute__((noinline)) static void small_blocks(int n) {
  for (int i = 0; i < n; ++i) { g_sink = malloc(SMALL); free(g_sink); }  // @small
}

__attribute__((noinline)) static void medium_blocks(int n) {
  for (int i = 0; i < n; ++i) g_sink = keep[kept++] = malloc(MEDIUM);  // @medium
}

__attribute__((noinline)) static void large_blocks(int n) {
  for (int i = 0; i < n; ++i) { g_sink = malloc(LARGE); free(g_sink); }  // @large
}

static void* small_blocks_in_thread(void* n) {
  pthread_setname_np(pthread_self(), "sampled-worker");
  small_blocks((int)(intptr_t)n);
  return NULL;
}

// argv[1]: the number of small blocks (default 200000). argv[2] "thread": they come from a thread
// named "sampled-worker", which has exited when the rest begins.
int main(int argc, char** argv) {
  const int small = argc > 1 ? atoi(argv[1]) : 200000;  // 12.8 MB in 64-byte blocks: p ~ 0.004
  if (argc > 2 && strcmp(argv[2], "thread") == 0) {
    pthread_t worker;
    if (pthread_create(&worker, NULL, small_blocks_in_thread, (void*)(intptr_t)small) != 0) return 1;
    pthread_join(worker, NULL);
  } else {
    small_blocks(small);
  }
  medium_blocks(2000);   // 2 MB in 1000-byte blocks, all kept (leaked)
  large_blocks(400);     // 20 MB in 50 KB blocks: p ~ 0.95
  return 0;
}

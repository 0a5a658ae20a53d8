/* reliability target: N threads churn the allocator at the same time for a known number of
 * rounds. Thread t mallocs blocks of exactly 20000 + t bytes (a size nothing else in the process
 * uses), keeps up to 64 of them live, and frees each one; so the trace must hold exactly ROUNDS
 * allocations and ROUNDS frees of each size, every one of them by a single thread.
 *
 *   rel_churn THREADS ROUNDS    prints "churned THREADS x ROUNDS" and exits 0
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long g_rounds;
static pthread_barrier_t g_start;

static void* churn(void* arg) {
  const size_t size = 20000 + (size_t)(uintptr_t)arg;
  void* live[64] = {0};
  uint32_t x = 2463534242u + (uint32_t)(uintptr_t)arg;
  pthread_barrier_wait(&g_start);  /* all threads in the allocator at once */
  for (long i = 0; i < g_rounds; ++i) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5; /* xorshift: which slot to recycle */
    void** slot = &live[x % 64];
    free(*slot);
    *slot = malloc(size);
    if (!*slot) abort();
    memset(*slot, (int)i, 16);
  }
  for (int i = 0; i < 64; ++i) free(live[i]);
  return NULL;
}

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  const int threads = atoi(argv[1]);
  g_rounds = atol(argv[2]);
  pthread_t* ids = calloc((size_t)threads, sizeof *ids);
  pthread_barrier_init(&g_start, NULL, (unsigned)threads);
  for (int t = 0; t < threads; ++t)
    if (pthread_create(&ids[t], NULL, churn, (void*)(uintptr_t)t) != 0) return 3;
  for (int t = 0; t < threads; ++t) pthread_join(ids[t], NULL);
  free(ids);
  printf("churned %d x %ld\n", threads, g_rounds);
  return 0;
}

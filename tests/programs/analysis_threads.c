// Known truth for the analyzer tests: 4 threads each leak 250 blocks of 32 bytes at @thread_leak
// and allocate-and-free 100 blocks of 48 bytes at @thread_temp, all at the same time (a barrier
// lines them up), so the trace's per-thread chunks must be merged correctly. glibc allocates
// each thread's TLS vector (dtv) inside pthread_create and keeps it with the cached stack after
// the join: that runtime memory is attributed to the @thread_create line.
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

enum { kThreads = 4, kLeaksPerThread = 250, kFreedPerThread = 100 };

static pthread_barrier_t g_start;
static void* volatile g_sink[kThreads][kLeaksPerThread];

static void* worker(void* arg) {
  const long index = (long)arg;
  pthread_barrier_wait(&g_start);
  for (int i = 0; i < kLeaksPerThread; ++i) {
    g_sink[index][i] = malloc(32);  // @thread_leak
    if (i < kFreedPerThread) {
      void* volatile t = malloc(48);  // @thread_temp
      free(t);
    }
  }
  return NULL;
}

int main(void) {
  pthread_t threads[kThreads];
  pthread_barrier_init(&g_start, NULL, kThreads);
  for (long i = 0; i < kThreads; ++i) pthread_create(&threads[i], NULL, worker, (void*)i);  // @thread_create
  for (int i = 0; i < kThreads; ++i) pthread_join(threads[i], NULL);
  pthread_barrier_destroy(&g_start);
  // The runtime frees its emergency pool at exit. Were that free in the same 65 us tick of the
  // trace's clock as a worker's last allocations, the merge (frees first within a tick, across
  // threads) could put it before them, and the peak would lack them: a documented limit of the
  // tick (docs/trace-format.md, "Merge"), kept out of this test of exact per-line figures.
  const struct timespec two_ticks = {0, 2 * 1000 * 1000};
  nanosleep(&two_ticks, NULL);
  return 0;
}

// Known truth for the analyzer tests: 4 threads each leak 250 blocks of 32 bytes at @thread_leak
// and allocate-and-free 100 blocks of 48 bytes at @thread_temp, all at the same time (a barrier
// lines them up), so the trace's per-thread chunks must be merged correctly. glibc allocates
// each thread's TLS vector (dtv) inside pthread_create and keeps it with the cached stack after
// the join: that runtime memory is attributed to the @thread_create line.
#include <pthread.h>
#include <stdlib.h>

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
  return 0;
}

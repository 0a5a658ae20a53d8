/* The program behind the trace-reader tests (tests/unit/trace_reader_test.cpp): it makes a known
 * number of allocations of one distinctive size, so a test can count them in the trace it leaves.
 *
 *   format_fixture COUNT [main|thread|kill|thread_kill]
 *
 *   main    COUNT mallocs of FIXTURE_SIZE bytes on the main thread, then frees them (default)
 *   thread  the same on a worker thread that then exits (sealing its chunks, so the drain turns
 *           them into frames); main gives the drain 500 ms before it returns
 *   kill    the mallocs on the main thread, then SIGKILL: no exit record, no final drain
 *   thread_kill  as thread, then SIGKILL: drained chunks keep their bytes in the ring (a normal
 *           exit gives their disk blocks back)
 *
 * The size must match kFixtureSize in trace_reader_test.cpp. Kept in C so that the only
 * allocations besides ours are libc's own.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FIXTURE_SIZE 4321
#define MAX_COUNT 100000

/* Global, so the compiler cannot prove the blocks unused and drop the malloc/free pairs. */
void* volatile g_blocks[MAX_COUNT];
static int g_count;

static void allocate_all(void) {
  for (int i = 0; i < g_count; ++i) g_blocks[i] = malloc(FIXTURE_SIZE);
}

static void free_all(void) {
  for (int i = 0; i < g_count; ++i) free(g_blocks[i]);
}

static void* worker(void* unused) {
  (void)unused;
  allocate_all();
  free_all();
  return NULL;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s COUNT [main|thread|kill|thread_kill]\n", argv[0]);
    return 2;
  }
  g_count = atoi(argv[1]);
  if (g_count < 0 || g_count > MAX_COUNT) return 2;
  const char* mode = argc > 2 ? argv[2] : "main";

  if (strcmp(mode, "thread") == 0 || strcmp(mode, "thread_kill") == 0) {
    pthread_t t;
    if (pthread_create(&t, NULL, worker, NULL) != 0) return 1;
    pthread_join(t, NULL);
    /* The worker's chunks are sealed when it exits and the drain wakes on a seal: 500 ms is
     * plenty for it to write them out as frames, even on a loaded machine. */
    const struct timespec pause = {0, 500 * 1000 * 1000};
    nanosleep(&pause, NULL);
    if (strcmp(mode, "thread_kill") == 0) raise(SIGKILL);
    return 0;
  }
  allocate_all();
  if (strcmp(mode, "kill") == 0) raise(SIGKILL);
  free_all();
  return 0;
}

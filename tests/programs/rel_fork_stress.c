/* reliability target: fork while other threads are inside malloc and free.
 *
 *   rel_fork_stress FORKS THREADS
 *
 * THREADS threads malloc/free 4093 bytes in tight loops until told to stop; meanwhile the main
 * thread forks FORKS children, one at a time. Each child mallocs 2347 bytes once, frees it and
 * exits 0 (through exit(), so its trace ends with an exit record). A child that deadlocks in the
 * allocator hangs its parent's waitpid: the test's timeout turns that into a failure.
 * Prints "forked FORKS" and exits 0; 10 means a child failed.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static atomic_int g_stop;
static atomic_int g_running;

static void escape(void* p) { __asm__ volatile("" : : "g"(p) : "memory"); }

static void* spin(void* arg) {
  (void)arg;
  atomic_fetch_add(&g_running, 1);
  while (!atomic_load_explicit(&g_stop, memory_order_relaxed)) {
    void* p = malloc(4093);
    escape(p);
    free(p);
  }
  return NULL;
}

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  const int forks = atoi(argv[1]), threads = atoi(argv[2]);
  pthread_t ids[64];
  for (int i = 0; i < threads && i < 64; ++i) pthread_create(&ids[i], NULL, spin, NULL);
  while (atomic_load(&g_running) < threads) {
  }
  for (int i = 0; i < forks; ++i) {
    const pid_t pid = fork();
    if (pid < 0) return 10;
    if (pid == 0) {
      void* p = malloc(2347);
      escape(p);
      free(p);
      exit(0);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "rel_fork_stress: child %d failed (status %d)\n", i, status);
      return 10;
    }
  }
  atomic_store(&g_stop, 1);
  for (int i = 0; i < threads && i < 64; ++i) pthread_join(ids[i], NULL);
  printf("forked %d\n", forks);
  return 0;
}

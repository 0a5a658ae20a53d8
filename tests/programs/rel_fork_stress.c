/* reliability target: fork while other threads are inside malloc and free.
 *
 *   rel_fork_stress FORKS THREADS [LIBRARY]
 *
 * THREADS threads malloc/free 4093 bytes in tight loops until told to stop; meanwhile the main
 * thread forks FORKS children, one at a time. Each child mallocs 2347 bytes once, frees it and
 * exits 0 (through exit(), so its trace ends with an exit record). A child that deadlocks in the
 * allocator hangs its parent's waitpid: the test's timeout turns that into a failure.
 * With LIBRARY, one more thread dlopens and dlcloses it in a loop: the loader's locks change
 * hands all the time, and every dlclose makes the recorder drop its unwind caches, so the
 * spinning threads' stack captures parse unwind tables (and take libunwind's own lock) all the
 * time too. The children then end with _exit(0): glibc's exit() in a child forked during
 * another thread's dlclose can wait for ever for a lock of glibc's own (with or without heapline).
 * Prints "forked FORKS" and exits 0; 10 means a child failed.
 */
#include <dlfcn.h>
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

static const char* g_library;

static void* load_and_unload(void* arg) {
  (void)arg;
  while (!atomic_load_explicit(&g_stop, memory_order_relaxed)) {
    void* handle = dlopen(g_library, RTLD_NOW);
    if (handle) dlclose(handle);
  }
  return NULL;
}

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) return 2;
  const int forks = atoi(argv[1]), threads = atoi(argv[2]);
  g_library = argc == 4 ? argv[3] : NULL;
  pthread_t ids[64], loader;
  for (int i = 0; i < threads && i < 64; ++i) pthread_create(&ids[i], NULL, spin, NULL);
  if (g_library) pthread_create(&loader, NULL, load_and_unload, NULL);
  while (atomic_load(&g_running) < threads) {
  }
  for (int i = 0; i < forks; ++i) {
    const pid_t pid = fork();
    if (pid < 0) return 10;
    if (pid == 0) {
      void* p = malloc(2347);
      escape(p);
      free(p);
      if (g_library) _exit(0);
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
  if (g_library) pthread_join(loader, NULL);
  printf("forked %d\n", forks);
  return 0;
}

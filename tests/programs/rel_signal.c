/* reliability target: malloc and free inside a signal handler (unsafe, but common in real
 * programs), delivered at a high rate while the main thread allocates in a loop.
 *
 *   rel_signal ROUNDS INTERVAL_US
 *
 * SIGALRM arrives every INTERVAL_US microseconds (setitimer); its handler mallocs 709 bytes and
 * frees them. The main thread mallocs and frees 601 bytes ROUNDS times, then stops the timer.
 * Prints "main ROUNDS" and "handler H" (H = handler runs) and exits 0.
 *
 * Both sizes are small enough for glibc's per-thread cache (tcache), and different, so that the
 * handler never waits for an arena lock the interrupted main thread holds: with large blocks
 * this program deadlocks inside glibc, with or without heapline. What is tested is that
 * heapline adds no deadlock of its own.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

static atomic_long g_handled;

static void escape(void* p) { __asm__ volatile("" : : "g"(p) : "memory"); }

static void on_alarm(int sig) {
  (void)sig;
  void* p = malloc(709);
  escape(p);
  free(p);
  atomic_fetch_add(&g_handled, 1);
}

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  const long rounds = atol(argv[1]);
  const long interval = atol(argv[2]);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGALRM, &sa, NULL);
  struct itimerval timer = {{0, interval}, {0, interval}};
  setitimer(ITIMER_REAL, &timer, NULL);
  for (long i = 0; i < rounds; ++i) {
    void* p = malloc(601);
    escape(p);
    free(p);
  }
  const struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  printf("main %ld\nhandler %ld\n", rounds, atomic_load(&g_handled));
  return 0;
}

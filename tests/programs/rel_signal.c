/* reliability target: malloc and free inside a signal handler (unsafe, but common in real
 * programs), delivered at a high rate while the main thread allocates in a loop.
 *
 *   rel_signal ROUNDS INTERVAL_US [MODE]
 *
 * The handler mallocs 709 bytes and frees them. The main thread mallocs and frees 601 bytes
 * ROUNDS times, then stops the signals. Prints "main ROUNDS" and "handler H" (H = handler runs)
 * and exits 0. MODE:
 *   alarm     (default) SIGALRM every INTERVAL_US microseconds (setitimer)
 *   altstack  the same, the handler running on an alternate signal stack (sigaltstack)
 *   storm     a second thread sends SIGUSR1 to the main thread, INTERVAL_US microseconds apart
 *             (busy-waited: well below a timer's granularity), and the main thread allocates
 *             from call chains of eight different depths, so that many signals land while
 *             heapline walks, interns or writes a stack, until the handler has run ROUNDS
 *             times (how often the sender gets a CPU depends on the machine's load): "main M"
 *             then says how many rounds the main thread made
 *
 * Both sizes are small enough for glibc's per-thread cache (tcache), and different, so that the
 * handler never waits for an arena lock the interrupted main thread holds: with large blocks
 * this program deadlocks inside glibc, with or without heapline. What is tested is that
 * heapline adds no deadlock of its own, and loses nothing.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static atomic_long g_handled;
static atomic_int g_stop;

static void escape(void* p) { __asm__ volatile("" : : "g"(p) : "memory"); }

static void on_signal(int sig) {
  (void)sig;
  void* p = malloc(709);
  escape(p);
  free(p);
  atomic_fetch_add(&g_handled, 1);
}

/* One malloc/free of 601 bytes at call depth `depth` (not inlined, not a tail call). */
__attribute__((noinline)) static void churn_at(int depth) {
  if (depth > 0) {
    churn_at(depth - 1);
    __asm__ volatile("" ::: "memory");
    return;
  }
  void* p = malloc(601);
  escape(p);
  free(p);
}

static long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

struct storm {
  pthread_t target;
  long interval_ns;
};

static void* send_storm(void* arg) {
  const struct storm* s = arg;
  while (!atomic_load(&g_stop)) {
    pthread_kill(s->target, SIGUSR1);
    const long until = now_ns() + s->interval_ns;
    while (now_ns() < until) {
    }
  }
  return NULL;
}

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) return 2;
  const long rounds = atol(argv[1]);
  const long interval = atol(argv[2]);
  const char* mode = argc == 4 ? argv[3] : "alarm";
  const int storm = strcmp(mode, "storm") == 0;
  const int altstack = strcmp(mode, "altstack") == 0;
  if (!storm && !altstack && strcmp(mode, "alarm") != 0) return 2;

  /* glibc's malloc is not async-signal-safe: a handler that enters its arena code while the
   * main thread was interrupted there deadlocks on the arena lock or crashes on a half-updated
   * bin (seen: 1 untraced run in ~15 under load, in _int_malloc on the alternate stack). So the
   * handler's size and the loop's each get a block in this thread's tcache before the first
   * signal; from then on both only take and return that block there. The warm-up sizes share
   * the tcache bins of 709 and 601 (chunk sizes 720 and 624) but are not counted as either. */
  void* warm = malloc(700);
  escape(warm);
  free(warm);
  warm = malloc(610);
  escape(warm);
  free(warm);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;
  if (altstack) {
    static char alt[1 << 16];
    const stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0) return 3;
    sa.sa_flags |= SA_ONSTACK;
  }
  sigaction(storm ? SIGUSR1 : SIGALRM, &sa, NULL);

  struct storm s = {pthread_self(), interval * 1000};
  pthread_t sender;
  if (storm) {
    if (pthread_create(&sender, NULL, send_storm, &s) != 0) return 4;
  } else {
    struct itimerval timer = {{0, interval}, {0, interval}};
    setitimer(ITIMER_REAL, &timer, NULL);
  }
  long made = 0;
  for (; storm ? atomic_load(&g_handled) < rounds : made < rounds; ++made) {
    if (storm) {
      churn_at((int)(made % 8));
    } else {
      void* p = malloc(601);
      escape(p);
      free(p);
    }
  }
  if (storm) {
    atomic_store(&g_stop, 1);
    pthread_join(sender, NULL);
  } else {
    const struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
  }
  /* A signal sent before the stop may still be pending: block both before counting. */
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGALRM);
  sigaddset(&block, SIGUSR1);
  sigprocmask(SIG_BLOCK, &block, NULL);
  printf("main %ld\nhandler %ld\n", made, atomic_load(&g_handled));
  return 0;
}

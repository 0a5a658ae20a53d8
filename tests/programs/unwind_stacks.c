/* Allocations whose stacks an unwinder that reuses what it saw before would get wrong: the same
 * function at the same depth from two callers, alternately; recursion of alternating depth; and
 * signal handlers (on the thread's stack and on an alternate one) that allocate. Every block
 * leaks, so the report's leak groups show each stack with its exact count. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline))
#define KEEP(p) __asm__ volatile("" : : "r"(p) : "memory")

void* g_sink[4096]; /* not static: the stores (and so the mallocs) must stay */
int g_count;

static void keep(void* p) { g_sink[g_count++ % 4096] = p; }

NOINLINE void* shared_leaf(size_t n) {
  void* p = malloc(n); // @shared_alloc
  KEEP(p);
  return p;
}
NOINLINE void* caller_a(size_t n) {
  void* p = shared_leaf(n); // @from_a
  KEEP(p);
  return p;
}
NOINLINE void* caller_b(size_t n) {
  void* p = shared_leaf(n); // @from_b
  KEEP(p);
  return p;
}

NOINLINE void* recurse(int depth, size_t n) {
  void* p;
  if (depth == 0) p = malloc(n); // @recursive_alloc
  else p = recurse(depth - 1, n); // @recursive_call
  KEEP(p); /* no tail calls: every level keeps its frame */
  return p;
}

static volatile sig_atomic_t g_handled;

static void on_signal(int sig) {
  (void)sig;
  void* p = malloc(40); // @handler_alloc
  KEEP(p);
  keep(p);
  ++g_handled;
}

NOINLINE void signal_from_a(void) {
  raise(SIGUSR1); // @raise_a
  KEEP(&g_handled);
}
NOINLINE void signal_from_b(void) {
  raise(SIGUSR1); // @raise_b
  KEEP(&g_handled);
}

int main(void) {
  for (int i = 0; i < 300; ++i) {
    keep(caller_a(16));
    keep(caller_b(32));
  }
  for (int i = 0; i < 200; ++i) keep(recurse(i % 2 ? 3 : 6, 24));

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, NULL);
  for (int i = 0; i < 10; ++i) {
    signal_from_a();
    signal_from_b();
  }
  static char alt[64 * 1024];
  stack_t ss;
  memset(&ss, 0, sizeof ss);
  ss.ss_sp = alt;
  ss.ss_size = sizeof alt;
  sigaltstack(&ss, NULL);
  sa.sa_flags = SA_ONSTACK;
  sigaction(SIGUSR1, &sa, NULL);
  for (int i = 0; i < 5; ++i) signal_from_b();
  return g_handled == 25 ? 0 : 1;
}

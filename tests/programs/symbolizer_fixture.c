/* C half of the symbolizer fixture: an always_inline helper inlined into a caller, and a plain
 * function. Compiled at -O2 -g. Line numbers matter only through the "@" markers. */
#include "symbolizer_fixture.h"

void* g_fixture_return_addresses[SLOT_COUNT];
volatile int g_fixture_sink = 1;

/* Records the address its caller will return to: a pc inside the caller's call line. */
FIXTURE_NOINLINE void fixture_capture(int slot) {
  g_fixture_return_addresses[slot] = __builtin_return_address(0);
  __asm__ volatile("" ::: "memory");
}

static inline __attribute__((always_inline)) int scaled(int x) {
  fixture_capture(SLOT_INLINED); /* @inlined_body */
  /* Work after the call keeps it from being a tail call, which would have no return address
   * inside this line. */
  return x * 3 + g_fixture_sink;
}

FIXTURE_NOINLINE int fixture_inline_caller(int x) {
  int y = scaled(x) + g_fixture_sink; /* @inline_call_site */
  return y * g_fixture_sink;
}

FIXTURE_NOINLINE int fixture_plain_c(int x) {
  fixture_capture(SLOT_PLAIN_C); /* @plain_c_call */
  return x + g_fixture_sink;
}

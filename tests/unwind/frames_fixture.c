/* Call chains of known shapes for the unwinder tests, built twice: with and without frame
 * pointers (FIXTURE(name) gives each build its own names). Every chain ends by calling
 * probe(ctx) from its deepest frame. */
#include <stddef.h>
#include <string.h>

#include "frames_fixture.h"

#define NOINLINE __attribute__((noinline))

/* Plain recursion: rsp-based CFA without frame pointers, rbp-based with them. */
NOINLINE int FIXTURE(recurse)(int depth, probe_fn probe, void* ctx) {
  if (depth == 0) {
    probe(ctx);
    return 0;
  }
  const int r = FIXTURE(recurse)(depth - 1, probe, ctx);
  __asm__ volatile("" ::: "memory"); /* no tail call */
  return r + 1;
}

/* A variable-length array in every frame: the CFA must come from rbp in both builds. */
NOINLINE int FIXTURE(vla_recurse)(int depth, probe_fn probe, void* ctx) {
  volatile char buf[16 + depth * 24];
  buf[0] = (char)depth;
  if (depth == 0) probe(ctx);
  else FIXTURE(vla_recurse)(depth - 1, probe, ctx);
  return buf[0];
}

/* A 100 KiB frame, and every callee-saved register in use across the call. */
NOINLINE int FIXTURE(big_frame)(probe_fn probe, void* ctx) {
  volatile char buf[100 * 1024];
  memset((char*)buf, 1, sizeof buf);
  probe(ctx);
  return buf[4096];
}

NOINLINE long FIXTURE(many_registers)(long a, long b, long c, long d, long e, long f,
                                      probe_fn probe, void* ctx) {
  volatile long x = a * b, y = c * d, z = e * f;
  long s = a + b + c + d + e + f;
  long t = a ^ b ^ c ^ d ^ e ^ f;
  probe(ctx);
  __asm__ volatile("" : "+r"(s), "+r"(t) :: "memory");
  return s + t + x + y + z + FIXTURE(big_frame)(probe, ctx);
}

/* The same function at the same depth from two callers. */
NOINLINE int FIXTURE(shared)(probe_fn probe, void* ctx) {
  probe(ctx);
  __asm__ volatile("" ::: "memory");
  return 1;
}
NOINLINE int FIXTURE(caller_a)(probe_fn probe, void* ctx) {
  const int r = FIXTURE(shared)(probe, ctx);
  __asm__ volatile("" ::: "memory");
  return r;
}
NOINLINE int FIXTURE(caller_b)(probe_fn probe, void* ctx) {
  const int r = FIXTURE(shared)(probe, ctx) * 2;
  __asm__ volatile("" ::: "memory");
  return r;
}

/* A variable-length array of `n` bytes under `pads` fixed-size frames: with the right sizes, two
 * calls put the array's frame at different CFAs (its rbp differs) but its callee at the same sp. */
NOINLINE int FIXTURE(vla_at)(size_t n, probe_fn probe, void* ctx) {
  volatile char buf[n];
  buf[n - 1] = 1; /* only the top: what was below stays as the last call left it */
  probe(ctx);
  return buf[n - 1];
}
NOINLINE int FIXTURE(pads_then_vla)(int pads, size_t n, probe_fn probe, void* ctx) {
  volatile char pad[64];
  pad[0] = (char)pads;
  if (pads == 0) return FIXTURE(vla_at)(n, probe, ctx);
  return FIXTURE(pads_then_vla)(pads - 1, n, probe, ctx) + pad[0];
}

/* Call chains of known shapes for the unwinder tests (frames_fixture.c). */
#ifndef HEAPLINE_TESTS_FRAMES_FIXTURE_H
#define HEAPLINE_TESTS_FRAMES_FIXTURE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef void (*probe_fn)(void* ctx);

#define FIXTURE_DECLARE(prefix)                                                              \
  int prefix##_recurse(int depth, probe_fn probe, void* ctx);                                \
  int prefix##_vla_recurse(int depth, probe_fn probe, void* ctx);                            \
  int prefix##_big_frame(probe_fn probe, void* ctx);                                         \
  long prefix##_many_registers(long a, long b, long c, long d, long e, long f, probe_fn probe, \
                               void* ctx);                                                   \
  int prefix##_shared(probe_fn probe, void* ctx);                                            \
  int prefix##_caller_a(probe_fn probe, void* ctx);                                          \
  int prefix##_caller_b(probe_fn probe, void* ctx);                                          \
  int prefix##_vla_at(size_t n, probe_fn probe, void* ctx);                                  \
  int prefix##_pads_then_vla(int pads, size_t n, probe_fn probe, void* ctx);

FIXTURE_DECLARE(fp)
FIXTURE_DECLARE(nofp)

#ifdef FIXTURE_PREFIX
#define FIXTURE_CAT2(a, b) a##_##b
#define FIXTURE_CAT(a, b) FIXTURE_CAT2(a, b)
#define FIXTURE(name) FIXTURE_CAT(FIXTURE_PREFIX, name)
#endif

#ifdef __cplusplus
}
#endif

#endif

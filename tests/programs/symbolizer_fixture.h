/* Fixture for tests/unit/symbolizer_test.cpp, shared by its C and C++ halves.
 *
 * Each function stores a return address that lies inside a known source line; main() prints
 * them as ELF virtual addresses, exactly as the recorder would log them. The test finds the
 * expected lines by the "@name" markers in the sources, so the expectations follow edits. */
#ifndef HEAPLINE_SYMBOLIZER_FIXTURE_H
#define HEAPLINE_SYMBOLIZER_FIXTURE_H

#ifdef __cplusplus
extern "C" {
#endif

/* noipa (GCC) also forbids cloning: a ".constprop.0" copy would change the symbol name the
 * test asserts. Clang has no noipa and clones far less eagerly; noinline is enough there. */
#if defined(__GNUC__) && !defined(__clang__)
#define FIXTURE_NOINLINE __attribute__((noipa))
#else
#define FIXTURE_NOINLINE __attribute__((noinline))
#endif

enum FixtureSlot { SLOT_INLINED, SLOT_PLAIN_C, SLOT_CXX, SLOT_COUNT };

extern void* g_fixture_return_addresses[SLOT_COUNT];
extern volatile int g_fixture_sink;

void fixture_capture(int slot);
int fixture_inline_caller(int x);
int fixture_plain_c(int x);

#ifdef __cplusplus
}
#endif

#endif

/* e2e target library: loaded with dlopen by e2e_dlopen. Allocates from its constructor (while
 * dlopen is still running), from an exported function, and frees everything from its destructor
 * and release function, so the trace must attribute allocations to a module that appears and
 * disappears. Sizes 8001 and 8003 are unique to this library. */
#include <stdlib.h>

static void* g_from_constructor;
static void* g_blocks[1024];
static int g_count;

__attribute__((constructor)) static void on_load(void) { g_from_constructor = malloc(8003); }

__attribute__((destructor)) static void on_unload(void) { free(g_from_constructor); }

int e2e_lib_allocate(int count) {
  if (count > 1024) count = 1024;
  for (g_count = 0; g_count < count; ++g_count) g_blocks[g_count] = malloc(8001);
  return g_count;
}

void e2e_lib_release(void) {
  for (int i = 0; i < g_count; ++i) free(g_blocks[i]);
  g_count = 0;
}

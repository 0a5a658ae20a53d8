// The shared library of analysis_finalizers.cpp: keeps a buffer until its ELF destructor runs.
// The program links it, so the dynamic loader initializes it before the preloaded recorder and
// finalizes it after: its free happens after heapline's own destructor and must still count.
#include <stdlib.h>

static void* g_kept;

void finalib_keep(size_t size) {
  g_kept = malloc(size);  // @finalib_alloc
}

__attribute__((destructor)) static void finalib_release(void) { free(g_kept); }

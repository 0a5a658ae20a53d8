/* reliability plugin for rel_dlopen: allocates in its constructor (8011 bytes, freed by its
 * destructor) and on request (plugin_make: 8009 bytes, freed by plugin_drop). */
#include <stdlib.h>

static void* g_state;

__attribute__((constructor)) static void plugin_load(void) { g_state = malloc(8011); }
__attribute__((destructor)) static void plugin_unload(void) { free(g_state); }

void* plugin_make(void) { return malloc(8009); }
void plugin_drop(void* p) { free(p); }

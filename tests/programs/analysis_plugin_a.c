// Plugin A for analysis_dlopen.c: leaks 2 x 222 bytes from its constructor (@a_ctor_leak) and
// 7 x 333 bytes from plugin_a_run (@a_leak); 4 x 555 bytes are allocated and freed (@a_freed).
#include <stdlib.h>

void* volatile g_a_sink[16];

__attribute__((constructor)) static void plugin_a_init(void) {
  for (int i = 0; i < 2; ++i) g_a_sink[i] = malloc(222);  // @a_ctor_leak
}

void plugin_a_run(void) {
  for (int i = 0; i < 7; ++i) g_a_sink[2 + i] = malloc(333);  // @a_leak
  for (int i = 0; i < 4; ++i) {
    void* volatile p = malloc(555);  // @a_freed
    free(p);
  }
}

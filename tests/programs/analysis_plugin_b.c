// Plugin B for analysis_dlopen.c, loaded after plugin A was unloaded: leaks 5 x 444 bytes from
// plugin_b_run (@b_leak).
#include <stdlib.h>

void* volatile g_b_sink[8];

void plugin_b_run(void) {
  for (int i = 0; i < 5; ++i) g_b_sink[i] = malloc(444);  // @b_leak
}

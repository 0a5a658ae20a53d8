/* reliability target: dlopen/dlclose of one library from several threads at once.
 *
 *   rel_dlopen PLUGIN THREADS ROUNDS
 *
 * Each thread, ROUNDS times: dlopen(PLUGIN), plugin_make() (mallocs 8009 bytes), plugin_drop()
 * (frees them), dlclose. The plugin's constructor mallocs 8011 bytes and its destructor frees
 * them, once per real load/unload (how often depends on the threads' interleaving).
 * Prints "dlopen THREADS x ROUNDS" and exits 0; 10 means dlopen failed.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static const char* g_plugin;
static long g_rounds;

static void* body(void* arg) {
  (void)arg;
  for (long i = 0; i < g_rounds; ++i) {
    void* h = dlopen(g_plugin, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      fprintf(stderr, "rel_dlopen: %s\n", dlerror());
      exit(10);
    }
    void* (*make)(void) = (void* (*)(void))dlsym(h, "plugin_make");
    void (*drop)(void*) = (void (*)(void*))dlsym(h, "plugin_drop");
    if (!make || !drop) exit(10);
    drop(make());
    dlclose(h);
  }
  return NULL;
}

int main(int argc, char** argv) {
  if (argc != 4) return 2;
  g_plugin = argv[1];
  const int threads = atoi(argv[2]);
  g_rounds = atol(argv[3]);
  pthread_t ids[64];
  for (int i = 0; i < threads && i < 64; ++i) pthread_create(&ids[i], NULL, body, NULL);
  for (int i = 0; i < threads && i < 64; ++i) pthread_join(ids[i], NULL);
  printf("dlopen %d x %ld\n", threads, g_rounds);
  return 0;
}

// Known truth for the analyzer tests: loads two plugins one after the other (argv[1], argv[2]),
// each leaking from its constructor and from the function called here, and unloads each before
// loading the next, so the second may reuse the first's addresses. Every leak must still be
// attributed to its own plugin's source line, though neither library is loaded at exit.
#include <dlfcn.h>
#include <stdio.h>

static int run_plugin(const char* path, const char* symbol) {
  void* handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
    return 1;
  }
  void (*run)(void);
  *(void**)&run = dlsym(handle, symbol);  // POSIX's way round C's object/function pointer split
  if (!run) {
    fprintf(stderr, "dlsym %s: %s\n", symbol, dlerror());
    return 1;
  }
  run();  // @call_plugin
  return dlclose(handle) == 0 ? 0 : 1;
}

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  if (run_plugin(argv[1], "plugin_a_run")) return 1;
  return run_plugin(argv[2], "plugin_b_run");
}

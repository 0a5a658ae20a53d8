/* e2e target: dlopen/dlclose of e2e_dlopen_lib, twice over (the second dlopen only bumps the
 * loader's reference count), with allocations made inside the library.
 *
 *   e2e_dlopen LIBRARY COUNT
 *
 * The library allocates 8003 bytes in its constructor and COUNT x 8001 on request, and frees all
 * of it before it is unloaded. After the last dlclose this program mallocs 8005 bytes once (the
 * unwinder must cope with the vanished library) and keeps it. Exit status 10: dl* failed. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

static void check(int ok, const char* what) {
  if (ok) return;
  fprintf(stderr, "e2e_dlopen: unexpected: %s: %s\n", what, dlerror());
  exit(10);
}

int main(int argc, char** argv) {
  check(argc == 3, "usage: e2e_dlopen LIBRARY COUNT");
  void* first = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  check(first != NULL, "dlopen");
  void* second = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  check(second == first, "second dlopen");
  /* POSIX's way to turn dlsym's object pointer into a function pointer (see dlsym(3)). */
  int (*allocate)(int);
  void (*release)(void);
  *(void**)&allocate = dlsym(first, "e2e_lib_allocate");
  *(void**)&release = dlsym(first, "e2e_lib_release");
  check(allocate && release, "dlsym");
  check(allocate(atoi(argv[2])) == atoi(argv[2]), "e2e_lib_allocate");
  release();
  check(dlclose(second) == 0, "first dlclose");
  check(dlclose(first) == 0, "second dlclose");
  void* volatile after = malloc(8005);
  printf("%s\n", after ? "done" : "no memory");
  return 0;
}

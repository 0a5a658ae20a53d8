// Known truth for the analyzer tests (tests/analysis/): a C program whose own allocations are
// all of sizes the C runtime never uses, so its figures can be told apart from the runtime's.
// The tests find each marked line by its "@" marker, so lines may move freely.
//
//   100 x 64 bytes leaked at @leak64
//   3 x 1000 bytes leaked inside leak_helper (@helper1000), called from @helper_call
//   10 x 1 MiB live at once (@peak_mib), then freed: the program's peak
//   5 x 777 bytes allocated and freed at once (@temp777): temporary allocations
//   calloc 1 x (12 x 100) bytes, realloc'ed to 2400 bytes and leaked (@calloc1200, @realloc2400)
// No stdio: the program must not allocate anything else.
#include <stdlib.h>
#include <string.h>

enum { kMiB = 1 << 20 };

void* volatile g_sink[128];  // volatile: -O2 may not drop allocations nobody reads

__attribute__((noinline)) static void* leak_helper(size_t size) {
  void* p = malloc(size);  // @helper1000
  memset(p, 1, size);
  return p;
}

int main(void) {
  for (int i = 0; i < 100; ++i) g_sink[i] = malloc(64);  // @leak64
  for (int i = 0; i < 3; ++i) g_sink[100 + i] = leak_helper(1000);  // @helper_call

  void* big[10];
  for (int i = 0; i < 10; ++i) {
    big[i] = malloc(kMiB);  // @peak_mib
    memset(big[i], 2, kMiB);
  }
  for (int i = 0; i < 10; ++i) free(big[i]);

  for (int i = 0; i < 5; ++i) {
    void* t = malloc(777);  // @temp777
    g_sink[110] = t;
    free(t);
  }

  void* c = calloc(12, 100);  // @calloc1200
  g_sink[111] = realloc(c, 2400);  // @realloc2400
  return 0;
}

// Known truth for the analyzer tests, built twice (-O0 and -O2) from this one source: the
// allocation sites must be the same lines in both builds. make_record is static and called once,
// so -O2 inlines it into fill_table (the test checks it did); its malloc must still be attributed
// to make_record's line (@inlined_alloc), with the call line (@inline_call) as the next frame.
// fill_table itself is kept out of line and its caller's line is @fill_call.
#include <stdlib.h>
#include <string.h>

void* volatile g_sink[64];

static void* make_record(size_t size, int fill) {
  void* p = malloc(size);  // @inlined_alloc
  memset(p, fill, size);
  return p;
}

__attribute__((noinline)) void fill_table(int count) {
  for (int i = 0; i < count; ++i) {
    g_sink[i] = make_record(96, i);  // @inline_call
  }
}

int main(void) {
  fill_table(20);  // @fill_call
  g_sink[40] = malloc(160);  // @direct_alloc
  return 0;
}

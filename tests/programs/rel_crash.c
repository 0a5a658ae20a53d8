/* reliability target: a fatal signal after a known set of allocations.
 *
 *   rel_crash raise N      N x 2501 bytes kept live, 3 x 2503 freed, then raise(SIGSEGV)
 *   rel_crash write N      the same, then a store through a null pointer (a real fault)
 *   rel_crash bus-raise N  the same, then raise(SIGBUS)
 *   rel_crash bus-fault N  the same, then a store into a mapping past the end of its (empty)
 *                          file: a real SIGBUS, which the recorder's handler must pass on
 *
 * Prints "allocated" (flushed) before the crash; the process dies by the signal every time.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void escape(void* p) { __asm__ volatile("" : : "g"(p) : "memory"); }

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  const int n = atoi(argv[2]);
  for (int i = 0; i < n; ++i) escape(malloc(2501));
  for (int i = 0; i < 3; ++i) {
    void* p = malloc(2503);
    escape(p);
    free(p);
  }
  printf("allocated\n");
  fflush(stdout);
  if (strcmp(argv[1], "raise") == 0) {
    raise(SIGSEGV);
  } else if (strcmp(argv[1], "write") == 0) {
    volatile int* volatile nowhere = NULL;
    *nowhere = 1;
  } else if (strcmp(argv[1], "bus-raise") == 0) {
    raise(SIGBUS);
  } else if (strcmp(argv[1], "bus-fault") == 0) {
    const int fd = memfd_create("rel_crash", 0);
    if (fd < 0) return 3;
    volatile char* p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) return 3;
    p[0] = 1; /* the file is empty: SIGBUS */
  }
  return 0;
}

// e2e target: a process that ends in a chosen way after exactly N allocations of 777 bytes,
// all still live when it ends.
//
//   e2e_exit_paths MODE N
//
//   return  prints "allocated N", a note on stderr, and returns 2 from main
//   exit    exit(3)          _exit   _exit(4)           abort   abort()
//   throw   an uncaught C++ exception (std::terminate, then SIGABRT)
//   wait    prints "ready N" and blocks until killed (the test sends SIGKILL)
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stdexcept>

namespace {

void escape(void* p) { asm volatile("" : : "g"(p) : "memory"); }

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: e2e_exit_paths MODE N\n");
    return 10;
  }
  const char* mode = argv[1];
  const long n = atol(argv[2]);
  for (long i = 0; i < n; ++i) escape(malloc(777));

  if (strcmp(mode, "return") == 0) {
    printf("allocated %ld\n", n);
    fprintf(stderr, "e2e_exit_paths: returning 2\n");
    return 2;
  }
  if (strcmp(mode, "exit") == 0) exit(3);
  if (strcmp(mode, "_exit") == 0) _exit(4);
  if (strcmp(mode, "abort") == 0) abort();
  if (strcmp(mode, "throw") == 0) throw std::runtime_error("e2e_exit_paths: uncaught");
  if (strcmp(mode, "wait") == 0) {
    printf("ready %ld\n", n);
    fflush(stdout);
    for (;;) pause();
  }
  fprintf(stderr, "e2e_exit_paths: unknown mode %s\n", mode);
  return 10;
}

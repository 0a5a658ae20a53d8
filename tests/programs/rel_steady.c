/* reliability target for faults injected while it runs (trace deleted, truncated, disk full).
 *
 *   rel_steady GO_FILE ROUNDS1 ROUNDS2
 *
 * Phase 1: ROUNDS1 x (malloc 9001 bytes, free). Prints "started" (flushed), then waits until
 * GO_FILE exists (the test injects its fault in between; at most 60 s). Phase 2: ROUNDS2
 * allocations of varied sizes (9002..13097 bytes, pseudo-random, so the trace compresses
 * badly), a window of 256 kept live, all freed. Prints "done ROUNDS1 ROUNDS2 CHECKSUM" and
 * exits 0: its output and status must not depend on what happened to the trace.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void escape(void* p) { __asm__ volatile("" : : "g"(p) : "memory"); }

int main(int argc, char** argv) {
  if (argc != 4) return 2;
  const long rounds1 = atol(argv[2]), rounds2 = atol(argv[3]);
  for (long i = 0; i < rounds1; ++i) {
    void* p = malloc(9001);
    escape(p);
    free(p);
  }
  printf("started\n");
  fflush(stdout);
  for (int waited = 0; access(argv[1], F_OK) != 0; ++waited) {
    if (waited > 60000) return 11;
    usleep(1000);
  }
  void* live[256] = {0};
  uint64_t x = 88172645463325252ull, checksum = 0;
  for (long i = 0; i < rounds2; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    const size_t size = 9002 + (size_t)(x % 4096);
    void** slot = &live[i % 256];
    free(*slot);
    *slot = malloc(size);
    if (!*slot) return 12;
    memset(*slot, (int)i, 8);
    checksum += size;
  }
  for (int i = 0; i < 256; ++i) free(live[i]);
  printf("done %ld %ld %llu\n", rounds1, rounds2, (unsigned long long)checksum);
  return 0;
}

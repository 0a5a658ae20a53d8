/* reliability soak target: a known, large number of events with a bounded live set.
 *
 *   rel_events N    N/2 malloc + N/2 free; sizes 16..4111 (pseudo-random), at most 1024 live
 *
 * So a trace of it holds exactly N/2 allocations and N/2 frees and ends with nothing live, and
 * the analyzer's memory should depend on the 1024 live blocks, not on N.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static void escape(void* p) { __asm__ volatile("" : : "g"(p) : "memory"); }

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const long long pairs = atoll(argv[1]) / 2;
  void* live[1024] = {0};
  uint32_t x = 2463534242u;
  for (long long i = 0; i < pairs; ++i) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    void** slot = &live[x % 1024];
    free(*slot); /* every malloc is freed, here or after the loop: N/2 frees exactly */
    *slot = malloc(16 + x % 4096);
    escape(*slot);
  }
  for (int i = 0; i < 1024; ++i) free(live[i]);
  printf("events %lld\n", pairs * 2);
  return 0;
}

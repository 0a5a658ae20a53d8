// reliability target: a fixed mix of allocation calls whose trace must be the same whatever
// allocator is underneath (glibc, jemalloc, tcmalloc preloaded after heapline).
//
//   malloc 10 x 1013, calloc 5 x (3 x 337 = 1011), realloc 1019 -> 2039 -> 4079,
//   posix_memalign 4 x 1021 (alignment 64), aligned_alloc 2 x 1280 (alignment 256),
//   new 6 x 1031 (a char array type, i.e. operator new[]), new 3 x std::array<char, 1033>
//   (operator new); everything freed except 2 x 1013 and 1 x 1031[] (leaked on purpose).
// Prints "known ok" and exits 0.
#include <array>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {
void escape(void* p) { asm volatile("" : : "g"(p) : "memory"); }
}  // namespace

int main() {
  void* m[10];
  for (void*& p : m) escape(p = malloc(1013));
  for (int i = 0; i < 8; ++i) free(m[i]);

  for (int i = 0; i < 5; ++i) {
    void* p = calloc(3, 337);
    escape(p);
    free(p);
  }

  void* r = malloc(1019);
  escape(r);
  r = realloc(r, 2039);
  escape(r);
  r = realloc(r, 4079);
  escape(r);
  free(r);

  for (int i = 0; i < 4; ++i) {
    void* p = nullptr;
    if (posix_memalign(&p, 64, 1021) != 0) return 3;
    escape(p);
    free(p);
  }
  for (int i = 0; i < 2; ++i) {
    void* p = aligned_alloc(256, 1280);
    escape(p);
    free(p);
  }

  char* arrays[6];
  for (char*& a : arrays) escape(a = new char[1031]);
  for (int i = 0; i < 5; ++i) delete[] arrays[i];

  for (int i = 0; i < 3; ++i) {
    auto* a = new std::array<char, 1033>;
    escape(a);
    delete a;
  }
  puts("known ok");
  return 0;
}

// e2e target: every allocation API the recorder hooks, called a known number of times with
// distinctive sizes, from several call sites and threads. alloc_apis_test.cpp holds the expected
// trace; keep the two in step.
//
//   e2e_alloc_apis THREADS PER_THREAD
//
// Every allocation below is made directly from this executable, so the innermost recorded frame
// is in it; the C/C++ runtime's own allocations are not (their innermost frame is in libc,
// libstdc++ or ld.so). Exit status 10 means the C library did not behave as the test assumes.
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <new>

namespace {

// The compiler may remove an allocation whose result is unused ([expr.new]/10 for new, GCC's
// builtin knowledge for malloc/free): make every result escape.
void escape(void* p) { asm volatile("" : : "g"(p) : "memory"); }

void check(bool ok, const char* what) {
  if (ok) return;
  fprintf(stderr, "e2e_alloc_apis: unexpected: %s\n", what);
  exit(10);
}

// Volatile so that no call below is folded away at compile time.
volatile size_t g_huge = SIZE_MAX - 4096;
volatile size_t g_half = SIZE_MAX / 2;
// GCC folds realloc(NULL, n) into malloc(n) and drops free(NULL): hide the null from it.
void* volatile g_null = nullptr;

struct Big {
  char bytes[1021];
};
struct Big2 {
  char bytes[1023];
};
struct alignas(64) Aligned {
  char bytes[1152];
};

// Two call sites allocating the same size: the trace must tell them apart by stack.
// noipa: no inlining, cloning or identical-code folding, so they stay two distinct call sites.
__attribute__((noipa)) void* call_site_a() { return malloc(1031); }
__attribute__((noipa)) void* call_site_b() { return malloc(1031); }

void c_apis() {
  errno = 4321;
  void* p = malloc(1001);  // freed
  check(p && errno == 4321, "a successful malloc changed errno");
  escape(p);
  free(p);

  p = calloc(10, 1003);  // 10030 bytes, freed
  escape(p);
  free(p);

  void* r = realloc(g_null, 1005);  // an allocation, no free
  escape(r);
  r = realloc(r, 2005);  // free + allocation
  escape(r);
  errno = 0;
  check(realloc(r, 0) == nullptr, "realloc(p, 0) returned a block");  // a free, no allocation

  void* q = reallocarray(g_null, 3, 1007);  // 3021 bytes
  escape(q);
  q = reallocarray(q, 5, 1007);  // free + 5035 bytes
  escape(q);
  free(q);

  check(posix_memalign(&p, 64, 1009) == 0, "posix_memalign failed");
  escape(p);
  free(p);
  p = aligned_alloc(64, 1088);
  escape(p);
  free(p);
  p = memalign(32, 1011);
  escape(p);
  free(p);
  p = valloc(1013);
  escape(p);
  free(p);
  p = pvalloc(1015);
  escape(p);
  free(p);

  free(g_null);   // not an event
  p = malloc(0);  // glibc returns a unique pointer: an allocation of size 0
  check(p != nullptr, "malloc(0) returned NULL");
  escape(p);
  free(p);

  // Failures: no events, and errno as the C library sets it.
  errno = 0;
  check(malloc(g_huge) == nullptr && errno == ENOMEM, "huge malloc: not NULL+ENOMEM");
  errno = 0;
  check(calloc(g_half, 4) == nullptr && errno == ENOMEM, "overflowing calloc: not NULL+ENOMEM");
  errno = 0;
  check(reallocarray(g_null, g_half, 3) == nullptr && errno == ENOMEM,
        "overflowing reallocarray: not NULL+ENOMEM");
}

void cxx_apis() {
  Big* big = new Big;  // operator new(1021)
  escape(big);
  delete big;                            // sized delete
  Big2* big2 = new (std::nothrow) Big2;  // operator new(1023, nothrow)
  escape(big2);
  delete big2;
  Aligned* aligned = new Aligned;  // operator new(1152, align_val_t{64})
  escape(aligned);
  delete aligned;

  char* chars = new char[1019];  // operator new[](1019)
  escape(chars);
  delete[] chars;
  chars = new (std::nothrow) char[1025];  // operator new[](1025, nothrow)
  escape(chars);
  delete[] chars;
  Aligned* aligned_array = new Aligned[2];  // operator new[](2304, align_val_t{64}), no cookie
  escape(aligned_array);
  delete[] aligned_array;

  // Failures: std::bad_alloc / nullptr, and no events.
  bool threw = false;
  try {
    escape(::operator new(g_huge));
  } catch (const std::bad_alloc&) {
    threw = true;
  }
  check(threw, "huge operator new did not throw");
  check(::operator new(g_huge, std::nothrow) == nullptr, "huge nothrow new returned a block");
}

void call_sites_and_leaks() {
  for (int i = 0; i < 5; ++i) free(call_site_a());
  for (int i = 0; i < 7; ++i) free(call_site_b());
  for (int i = 0; i < 3; ++i) escape(malloc(1027));  // still live at exit
}

// --- threads: each allocates PER_THREAD blocks of 3001 bytes at once, then frees them.
pthread_barrier_t g_start;
int g_per_thread = 0;

void* worker(void*) {
  static constexpr int kMaxPerThread = 4096;
  void* blocks[kMaxPerThread];
  pthread_barrier_wait(&g_start);  // all threads allocate concurrently
  for (int i = 0; i < g_per_thread; ++i) blocks[i] = malloc(3001);
  for (int i = 0; i < g_per_thread; ++i) escape(blocks[i]);
  for (int i = 0; i < g_per_thread; ++i) free(blocks[i]);
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  check(argc == 3, "usage: e2e_alloc_apis THREADS PER_THREAD");
  const int threads = atoi(argv[1]);
  g_per_thread = atoi(argv[2]);
  check(threads >= 0 && threads <= 64 && g_per_thread >= 0 && g_per_thread <= 4096, "arguments");

  c_apis();
  cxx_apis();
  call_sites_and_leaks();

  pthread_t ids[64];
  pthread_barrier_init(&g_start, nullptr, static_cast<unsigned>(threads) + 1);
  for (int i = 0; i < threads; ++i)
    check(pthread_create(&ids[i], nullptr, worker, nullptr) == 0, "pthread_create");
  pthread_barrier_wait(&g_start);
  for (int i = 0; i < threads; ++i) pthread_join(ids[i], nullptr);
  pthread_barrier_destroy(&g_start);
  printf("done\n");
  return 0;
}

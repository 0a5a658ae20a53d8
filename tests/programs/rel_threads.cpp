// reliability target: thread lifecycles the recorder must follow exactly.
//
//   rel_threads many N K     N threads (16 at a time), each mallocs K blocks of 3001 bytes and
//                            frees them: exactly N*K allocations and frees of 3001
//   rel_threads overlap S    4 "steady" threads malloc/free 5001 bytes in a loop for as long as
//                            the main thread starts S short threads one after another, each of
//                            which mallocs 5003 bytes 5 times, frees 4, and hands the fifth to
//                            main (freed after the joins): so threads keep exiting while others
//                            allocate. Prints how many 5001-byte blocks the steady threads made.
//   rel_threads tls N        N threads whose last allocation (7001 bytes) is freed by a
//                            thread_local destructor, and a 7003-byte block freed by a pthread
//                            key destructor: both run after the thread function returned
// Each mode prints one line and exits 0.
#include <pthread.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

void escape(void* p) { asm volatile("" : : "g"(p) : "memory"); }

void* must_malloc(size_t n) {
  void* p = malloc(n);
  if (!p) abort();
  escape(p);
  return p;
}

pthread_t start(void* (*fn)(void*), void* arg) {
  pthread_t t;
  if (pthread_create(&t, nullptr, fn, arg) != 0) {
    perror("pthread_create");
    exit(3);
  }
  return t;
}

// --- many
long g_per_thread = 0;
void* many_body(void*) {
  std::vector<void*> blocks;
  blocks.reserve(static_cast<size_t>(g_per_thread));  // one allocation of its own, not 3001
  for (long i = 0; i < g_per_thread; ++i) blocks.push_back(must_malloc(3001));
  for (void* p : blocks) free(p);
  return nullptr;
}

int many(int n, long k) {
  g_per_thread = k;
  for (int done = 0; done < n;) {
    pthread_t wave[16];
    const int count = n - done < 16 ? n - done : 16;
    for (int i = 0; i < count; ++i) wave[i] = start(many_body, nullptr);
    for (int i = 0; i < count; ++i) pthread_join(wave[i], nullptr);
    done += count;
  }
  printf("many: %d threads x %ld\n", n, k);
  return 0;
}

// --- overlap
std::atomic<int> g_steady_ready{0};
std::atomic<bool> g_shorts_done{false};
std::atomic<long> g_steady_blocks{0};
void* steady_body(void*) {
  g_steady_ready.fetch_add(1);
  long made = 0;
  // At least 1000 each, and on until every short thread has come and gone.
  for (; made < 1000 || !g_shorts_done.load(std::memory_order_relaxed); ++made)
    free(must_malloc(5001));
  g_steady_blocks.fetch_add(made);
  return nullptr;
}
void* short_body(void* out) {
  void* blocks[5];
  for (void*& b : blocks) b = must_malloc(5003);
  for (int i = 0; i < 4; ++i) free(blocks[i]);
  *static_cast<void**>(out) = blocks[4];
  return nullptr;
}

int overlap(int shorts) {
  pthread_t steady[4];
  for (pthread_t& t : steady) t = start(steady_body, nullptr);
  while (g_steady_ready.load() < 4) {
  }
  std::vector<void*> handed(static_cast<size_t>(shorts));
  for (int i = 0; i < shorts; ++i) pthread_join(start(short_body, &handed[i]), nullptr);
  g_shorts_done.store(true);
  for (pthread_t t : steady) pthread_join(t, nullptr);
  for (void* p : handed) free(p);
  printf("overlap: %d short threads, %ld steady blocks\n", shorts, g_steady_blocks.load());
  return 0;
}

// --- tls
struct LastBlock {
  void* p = nullptr;
  ~LastBlock() { free(p); }  // runs at thread exit, after the thread's last allocation
};
thread_local LastBlock t_last;
pthread_key_t g_key;

void* tls_body(void*) {
  pthread_setspecific(g_key, must_malloc(7003));
  t_last.p = must_malloc(7001);
  return nullptr;
}

int tls(int n) {
  if (pthread_key_create(&g_key, free) != 0) return 3;
  for (int i = 0; i < n; ++i) pthread_join(start(tls_body, nullptr), nullptr);
  printf("tls: %d threads\n", n);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "many" && argc == 4) return many(atoi(argv[2]), atol(argv[3]));
  if (mode == "overlap" && argc == 3) return overlap(atoi(argv[2]));
  if (mode == "tls" && argc == 3) return tls(atoi(argv[2]));
  fprintf(stderr, "usage: rel_threads many N K | overlap S | tls N\n");
  return 2;
}

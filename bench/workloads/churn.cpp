// Benchmark workload: malloc/free churn from deep, varied call stacks (11-20 frames), the worst
// case for a profiler that unwinds every allocation. Usage: churn [threads] [allocs_per_thread]
#include <pthread.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

// A recursion whose depth varies with the iteration, so stacks differ but repeat.
__attribute__((noinline)) void* allocate_at_depth(int depth, size_t size) {
  if (depth == 0) return malloc(size);
  void* p = allocate_at_depth(depth - 1, size);
  asm volatile("" ::: "memory");  // keep the frames (no tail call)
  return p;
}

struct Config {
  long allocations;
  unsigned seed;
};

void* churn(void* arg) {
  const Config* config = static_cast<const Config*>(arg);
  unsigned state = config->seed;
  std::vector<void*> live(256, nullptr);
  for (long i = 0; i < config->allocations; ++i) {
    state = state * 1103515245u + 12345u;
    const size_t slot = (state >> 8) % live.size();
    free(live[slot]);
    const int depth = 8 + static_cast<int>((state >> 16) % 10);  // 11-20 frames with main/start
    live[slot] = allocate_at_depth(depth, 16 + (state >> 20) % 512);
  }
  for (void* p : live) free(p);
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? atoi(argv[1]) : 1;
  const long per_thread = argc > 2 ? atol(argv[2]) : 1000000;
  std::vector<pthread_t> ids(threads);
  std::vector<Config> configs(threads);
  for (int t = 0; t < threads; ++t) {
    configs[t] = {per_thread, 42u + static_cast<unsigned>(t)};
    pthread_create(&ids[t], nullptr, churn, &configs[t]);
  }
  for (pthread_t id : ids) pthread_join(id, nullptr);
  return 0;
}

#include "loader_walks.h"

#include <sched.h>
#include <time.h>

#include <atomic>

namespace heapline::preload {
namespace {

// seq_cst on both sides (a walker adds itself then reads g_forking; the forker sets g_forking
// then reads g_walkers), so at least one of the two always sees the other.
std::atomic<int> g_walkers{0};
std::atomic<bool> g_forking{false};
thread_local int t_depth __attribute__((tls_model("initial-exec"))) = 0;

// A walker's callback may itself wait for something the forking thread holds; rather than
// trade the child's hang for the parent's, the fork goes ahead after this long.
constexpr long kMaxWaitNs = 1000 * 1000 * 1000;

long elapsed_ns(const timespec& since) {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (now.tv_sec - since.tv_sec) * 1000000000L + (now.tv_nsec - since.tv_nsec);
}

}  // namespace

LoaderWalk::LoaderWalk() {
  if (t_depth++ > 0) return;
  for (;;) {
    g_walkers.fetch_add(1);
    if (!g_forking.load()) return;
    g_walkers.fetch_sub(1);
    while (g_forking.load()) sched_yield();
  }
}

LoaderWalk::~LoaderWalk() {
  if (--t_depth == 0) g_walkers.fetch_sub(1);
}

bool inside_loader_walk() { return t_depth > 0; }

void hold_loader_walks_for_fork() {
  g_forking.store(true);
  const int own = t_depth > 0 ? 1 : 0;  // fork() called from a walk's callback
  timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  while (g_walkers.load() > own && elapsed_ns(start) < kMaxWaitNs) sched_yield();
}

void release_loader_walks_after_fork(bool in_child) {
  if (in_child) g_walkers.store(t_depth > 0 ? 1 : 0);  // the other walkers are gone
  g_forking.store(false);
}

}  // namespace heapline::preload

#include "fork_gate.h"

#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

#include "loader_walks.h"

namespace heapline::preload {
namespace {

constexpr uint32_t kStripes = 64;

struct alignas(64) Stripe {
  std::atomic<uint32_t> inside{0};
};
Stripe g_stripes[kStripes];
// seq_cst on both sides, as for loader walks: a thread adds itself to its stripe, then reads
// g_fork_pending; the forker sets g_fork_pending, then reads the stripes. One sees the other.
std::atomic<bool> g_fork_pending{false};

struct GateThread {
  uint32_t depth;   // sections of this thread now open (more than one: nested by a signal)
  uint32_t stripe;  // 0 = not chosen yet, else index + 1
  bool forking;     // this thread is the one in fork(): never hold it back
};
thread_local GateThread t_gate __attribute__((tls_model("initial-exec"))) = {};

constexpr long kMaxWaitNs = 1000 * 1000 * 1000;

long elapsed_ns(const timespec& since) {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (now.tv_sec - since.tv_sec) * 1000000000L + (now.tv_nsec - since.tv_nsec);
}

Stripe& stripe_of(GateThread& g) {
  if (__builtin_expect(g.stripe == 0, 0))
    g.stripe = static_cast<uint32_t>(syscall(SYS_gettid)) % kStripes + 1;
  return g_stripes[g.stripe - 1];
}

// Counts the thread in (once more) and returns once no fork is pending or the thread may not be
// held back.
void enter(Stripe& s, bool may_wait) {
  if (!may_wait) {
    s.inside.fetch_add(1);
    return;
  }
  for (;;) {
    s.inside.fetch_add(1);
    if (!g_fork_pending.load()) return;
    s.inside.fetch_sub(1);
    while (g_fork_pending.load()) sched_yield();
  }
}

bool may_hold_back(const GateThread& g) { return g.depth == 0 && !g.forking && !inside_loader_walk(); }

}  // namespace

RecorderSection::RecorderSection(bool may_wait) {
  GateThread& g = t_gate;
  Stripe& s = stripe_of(g);
  enter(s, may_wait && may_hold_back(g));
  ++g.depth;
}

RecorderSection::~RecorderSection() {
  GateThread& g = t_gate;
  --g.depth;
  g_stripes[g.stripe - 1].inside.fetch_sub(1, std::memory_order_release);
}

ForkWindow::ForkWindow() : opened_(t_gate.depth == 1) {
  // Only the one section of a thread: one interrupted by a signal handler stays closed.
  if (!opened_) return;
  GateThread& g = t_gate;
  --g.depth;
  g_stripes[g.stripe - 1].inside.fetch_sub(1, std::memory_order_release);
}

ForkWindow::~ForkWindow() {
  if (!opened_) return;
  GateThread& g = t_gate;
  enter(stripe_of(g), may_hold_back(g));
  ++g.depth;
}

void close_fork_gate() {
  GateThread& g = t_gate;
  g.forking = true;
  g_fork_pending.store(true);
  // fork() from a signal handler that interrupted this thread's own section: that one stays.
  const uint32_t own_stripe = g.depth > 0 ? g.stripe : 0;
  timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (uint32_t i = 0; i < kStripes; ++i) {
    const uint32_t own = i + 1 == own_stripe ? g.depth : 0;
    while (g_stripes[i].inside.load() > own && elapsed_ns(start) < kMaxWaitNs) sched_yield();
  }
}

void open_fork_gate(bool in_child) {
  GateThread& g = t_gate;
  if (in_child) {
    // Only this thread exists in the child; it keeps its own stripe (and maybe section).
    for (uint32_t i = 0; i < kStripes; ++i) g_stripes[i].inside.store(0);
    g.stripe = 0;
    if (g.depth > 0) stripe_of(g).inside.store(g.depth);
  }
  g.forking = false;
  g_fork_pending.store(false);
}

}  // namespace heapline::preload

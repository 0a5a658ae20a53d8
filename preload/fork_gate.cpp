#include "fork_gate.h"

#include <errno.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

#include "loader_walks.h"

namespace heapline::preload {
namespace {

// How many sections a thread (or, for a stripe, the threads sharing it) has open now.
struct alignas(64) Counter {
  std::atomic<uint32_t> inside{0};
  std::atomic<uint32_t> owner{0};  // slots: the tid of the thread that claimed it, 0 = free
};

// Threads with a slot of their own count themselves with plain stores: only the owner writes its
// slot, and the forker's membarrier() orders those stores against its reads (see enter()).
// A locked add per section entry and exit was ~16% of a traced malloc+free on churn: the CPU
// drains its store buffer, full of the record just written, at each. The slots are claimed at
// a thread's first section and taken over once their owner is gone; a thread that finds none
// free, and every thread when membarrier is not to be had, counts itself in one of the stripes
// with atomic adds instead (a stripe is shared by the threads whose tid has its index mod 64).
constexpr uint32_t kSlots = 1024;
constexpr uint32_t kClaimProbes = 64;
constexpr uint32_t kStripes = 64;
Counter g_slots[kSlots];
Counter g_stripes[kStripes];

// seq_cst on the stripes' side: a thread adds itself to its stripe, then reads g_fork_pending;
// the forker sets g_fork_pending, then reads the counters. One sees the other.
std::atomic<bool> g_fork_pending{false};
// membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) is registered for this process: slots are used.
std::atomic<bool> g_asymmetric{false};

struct GateThread {
  uint32_t depth;    // sections of this thread now open (more than one: nested by a signal)
  Counter* counter;  // its slot or its stripe; null = not chosen yet
  bool own_slot;     // counter is a slot of its own (plain stores) rather than a shared stripe
  bool no_slot;      // found no slot free: stays on its stripe
  bool forking;      // this thread is the one in fork(): never hold it back
};
thread_local GateThread t_gate __attribute__((tls_model("initial-exec"))) = {};

constexpr long kMaxWaitNs = 1000 * 1000 * 1000;

long elapsed_ns(const timespec& since) {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (now.tv_sec - since.tv_sec) * 1000000000L + (now.tv_nsec - since.tv_nsec);
}

uint32_t current_tid() { return static_cast<uint32_t>(syscall(SYS_gettid)); }

bool membarrier_call(int command) {
  const int saved = errno;  // the target's errno is not ours to change
  const bool ok = syscall(SYS_membarrier, command, 0, 0) == 0;
  errno = saved;
  return ok;
}

// Whether no thread with this tid is left in the process: its slot is free to take.
bool thread_is_gone(uint32_t tid) {
  const int saved = errno;
  const bool gone = syscall(SYS_tgkill, getpid(), tid, 0) != 0 && errno == ESRCH;
  errno = saved;
  return gone;
}

Counter* claim_slot(uint32_t tid) {
  for (uint32_t i = 0; i < kClaimProbes; ++i) {
    Counter& slot = g_slots[(tid + i) % kSlots];
    uint32_t owner = slot.owner.load(std::memory_order_relaxed);
    // A slot owned by this tid is a dead thread's (tids are unique among live threads) or one
    // this thread claimed from a signal handler that interrupted its first claim.
    const bool free = owner == 0 || owner == tid ||
                      (slot.inside.load(std::memory_order_relaxed) == 0 && thread_is_gone(owner));
    if (free && slot.owner.compare_exchange_strong(owner, tid)) {
      slot.inside.store(0, std::memory_order_relaxed);
      return &slot;
    }
  }
  return nullptr;
}

// Picks the thread's counter before its outermost section. A thread on a stripe moves to a slot
// once membarrier is registered (the recorder's start), between sections.
void choose_counter(GateThread& g) {
  if (g.depth != 0 || g.own_slot) return;
  if (!g.no_slot && g_asymmetric.load(std::memory_order_relaxed)) {
    if (Counter* slot = claim_slot(current_tid())) {
      g.counter = slot;
      g.own_slot = true;
      return;
    }
    g.no_slot = true;
  }
  if (g.counter == nullptr) g.counter = &g_stripes[current_tid() % kStripes];
}

// Counts the thread in (once more) and returns once no fork is pending or the thread may not be
// held back.
void enter(GateThread& g, bool may_wait) {
  if (g.own_slot) {
    for (;;) {
      g.counter->inside.store(g.depth + 1, std::memory_order_relaxed);
      // Only the compiler is kept from reordering here. The CPU may still let the load below
      // pass the store: the forker's membarrier() runs a full barrier on every thread of the
      // process between its setting g_fork_pending and its reading the slots, so either the
      // forker sees this store or this thread sees g_fork_pending.
      std::atomic_signal_fence(std::memory_order_seq_cst);
      if (!may_wait || !g_fork_pending.load(std::memory_order_relaxed)) return;
      g.counter->inside.store(g.depth, std::memory_order_release);
      while (g_fork_pending.load(std::memory_order_relaxed)) sched_yield();
    }
  }
  if (!may_wait) {
    g.counter->inside.fetch_add(1);
    return;
  }
  for (;;) {
    g.counter->inside.fetch_add(1);
    if (!g_fork_pending.load()) return;
    g.counter->inside.fetch_sub(1);
    while (g_fork_pending.load()) sched_yield();
  }
}

// Counts the thread out once (g.depth already decremented).
void leave(GateThread& g) {
  // Release: the recorder's writes of the section come before the forker can see it left.
  if (g.own_slot)
    g.counter->inside.store(g.depth, std::memory_order_release);
  else
    g.counter->inside.fetch_sub(1, std::memory_order_release);
}

bool may_hold_back(const GateThread& g) { return g.depth == 0 && !g.forking && !inside_loader_walk(); }

}  // namespace

void init_fork_gate(bool allow_membarrier) {
  if (!allow_membarrier) return;
  const int supported = static_cast<int>(syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0));
  if (supported < 0 || !(supported & MEMBARRIER_CMD_PRIVATE_EXPEDITED)) return;
  if (membarrier_call(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED)) g_asymmetric.store(true);
}

RecorderSection::RecorderSection(bool may_wait) {
  GateThread& g = t_gate;
  if (__builtin_expect(!g.own_slot, 0)) choose_counter(g);
  enter(g, may_wait && may_hold_back(g));
  ++g.depth;
}

RecorderSection::~RecorderSection() {
  GateThread& g = t_gate;
  --g.depth;
  leave(g);
}

ForkWindow::ForkWindow() : opened_(t_gate.depth == 1) {
  // Only the one section of a thread: one interrupted by a signal handler stays closed.
  if (!opened_) return;
  GateThread& g = t_gate;
  --g.depth;
  leave(g);
}

ForkWindow::~ForkWindow() {
  if (!opened_) return;
  GateThread& g = t_gate;
  enter(g, may_hold_back(g));
  ++g.depth;
}

bool fork_gate_slot_of_own() { return t_gate.own_slot; }

void close_fork_gate() {
  GateThread& g = t_gate;
  g.forking = true;
  g_fork_pending.store(true);
  // Every thread of the process runs a full barrier before this returns: from here on, a slot
  // that reads 0 belongs to a thread that will see g_fork_pending before it enters (enter()).
  if (g_asymmetric.load(std::memory_order_relaxed))
    membarrier_call(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
  // fork() from a signal handler that interrupted this thread's own section: that one stays.
  const Counter* own = g.depth > 0 ? g.counter : nullptr;
  timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  auto wait_out = [&](const Counter& c) {
    const uint32_t mine = &c == own ? g.depth : 0;
    while (c.inside.load() > mine && elapsed_ns(start) < kMaxWaitNs) sched_yield();
  };
  for (const Counter& c : g_stripes) wait_out(c);
  for (const Counter& c : g_slots) wait_out(c);
}

void open_fork_gate(bool in_child) {
  GateThread& g = t_gate;
  if (in_child) {
    // Only this thread exists in the child: every other counter is a gone thread's.
    for (Counter& c : g_stripes) c.inside.store(0);
    for (Counter& c : g_slots) {
      if (&c == g.counter) continue;
      c.inside.store(0);
      c.owner.store(0);
    }
    // The child is a new process: its registration is its own, and its tid a new one.
    const bool asymmetric =
        g_asymmetric.load() && membarrier_call(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED);
    g_asymmetric.store(asymmetric);
    g.no_slot = false;  // the parent's other threads' slots are free here
    if (g.own_slot && asymmetric) {
      g.counter->owner.store(current_tid());
    } else if (g.own_slot) {
      // Without membarrier a slot's plain stores are not safe: back to a stripe, with this
      // thread's open sections.
      g.counter->owner.store(0);
      g.counter->inside.store(0);
      g.own_slot = false;
      g.counter = &g_stripes[current_tid() % kStripes];
      g.counter->inside.store(g.depth);
    } else if (g.counter) {
      g.counter = &g_stripes[current_tid() % kStripes];
      g.counter->inside.store(g.depth);
    }
  }
  g.forking = false;
  g_fork_pending.store(false);
}

}  // namespace heapline::preload

#include "signal_queue.h"

#include "lifecycle.h"
#include "recorder.h"
#include "sampler.h"
#include "trace_clock.h"

namespace heapline::preload {

namespace {

struct QueuedEvent {
  uint64_t address;
  uint64_t size;     // allocations only
  uint64_t site;     // allocations only: the handler's call site
  uint64_t time_ns;  // when it happened (a free: before the real free, as for any free)
  format::AllocApi api;
  bool is_alloc;
};

// A handler interrupting one recording rarely makes more than a malloc and a free, but one
// recording can take long: a thread's first captures (cold unwind rules, libunwind), or a wait
// for a free chunk while the drain is behind. With 32 events, a SIGALRM every 50 us overflowed
// about one loaded run in five (3 handler runs lost, counted). 256 events (10 KiB of TLS per
// thread, untouched unless a handler queues) hold 128 handler runs.
constexpr uint32_t kCapacity = 256;

struct SignalQueue {
  QueuedEvent events[kCapacity];
  uint32_t head;         // next event to write; only the writer (in kRecorder) moves it
  uint64_t lost_allocs;  // queue full; added to the thread's lost counts when written
  uint64_t lost_frees;
};

thread_local SignalQueue t_queue __attribute__((tls_model("initial-exec")));

// Slots are reserved by compare-and-swap on t_queued, so a handler interrupted while queuing by
// another handler (nested signals) cannot be given the same slot. The thread itself only reads
// t_queued between handlers, so plain (atomic) loads see every queued event complete.
void push(const QueuedEvent& e) {
  SignalQueue& q = t_queue;
  uint32_t slot = __atomic_load_n(&detail::t_queued, __ATOMIC_RELAXED);
  do {
    if (slot == kCapacity) {
      __atomic_fetch_add(e.is_alloc ? &q.lost_allocs : &q.lost_frees, 1, __ATOMIC_RELAXED);
      return;
    }
  } while (!__atomic_compare_exchange_n(&detail::t_queued, &slot, slot + 1, true, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED));
  q.events[slot] = e;
  std::atomic_signal_fence(std::memory_order_seq_cst);
}

bool recording() { return g_state.load(std::memory_order_acquire) == State::kEnabled; }

void write_event(const QueuedEvent& e) {
  const auto* p = reinterpret_cast<const void*>(e.address);
  if (e.is_alloc) {
    record_alloc_with_stack(p, e.size, e.api, &e.site, 1, e.time_ns);
  } else {
    record_free(p, e.api, e.time_ns);
  }
}

}  // namespace

namespace detail {
constinit thread_local uint32_t t_queued __attribute__((tls_model("initial-exec"))) = 0;

// Runs in the thread that was interrupted, never in a handler that queues: events queued while
// this writes (in kRecorder) are appended and written in turn; once the queue is seen empty in
// `quiet`, no handler touches it, and it is reset.
void write_queued(Phase quiet) {
  SignalQueue& q = t_queue;
  for (;;) {
    std::atomic_signal_fence(std::memory_order_seq_cst);
    const uint32_t queued = __atomic_load_n(&t_queued, __ATOMIC_RELAXED);
    if (q.head == queued) {
      q.head = 0;
      __atomic_store_n(&t_queued, 0, __ATOMIC_RELAXED);
      return;
    }
    set_phase(Phase::kRecorder);
    // A handler that runs a full recording (in `quiet`) writes this queue itself: it may have
    // emptied it between the two loads above and here, so `head` is read afresh each time.
    while (q.head < __atomic_load_n(&t_queued, __ATOMIC_RELAXED)) {
      const QueuedEvent e = q.events[q.head];
      ++q.head;
      std::atomic_signal_fence(std::memory_order_seq_cst);
      write_event(e);
    }
    // The handlers' overflow goes into the thread's lost counts, which handlers do not touch
    // in kRecorder (a nested recording in `quiet` may).
    ThreadState& t = t_state;
    t.lost_allocs += __atomic_exchange_n(&q.lost_allocs, 0, __ATOMIC_RELAXED);
    t.lost_frees += __atomic_exchange_n(&q.lost_frees, 0, __ATOMIC_RELAXED);
    set_phase(quiet);
  }
}
}  // namespace detail

void queue_alloc(const void* p, size_t size, format::AllocApi api, const void* site) {
  if (!recording() || !should_sample(t_state, size)) return;
  // Remembered now: the handler may free the block before the queue is written.
  if (g_sample_bytes) remember_sampled(p);
  push({reinterpret_cast<uint64_t>(p), size, reinterpret_cast<uint64_t>(site), trace_clock(), api,
        true});
}

void queue_free_at(const void* p, format::AllocApi api, uint64_t time_ns) {
  if (!recording() || !should_record_free(p)) return;
  push({reinterpret_cast<uint64_t>(p), 0, 0, time_ns, api, false});
}

void queue_free(const void* p, format::AllocApi api) { queue_free_at(p, api, trace_clock()); }

void reset_signal_queue_after_fork() {
  t_queue.head = 0;
  t_queue.lost_allocs = t_queue.lost_frees = 0;
  detail::t_queued = 0;
}

}  // namespace heapline::preload

#include "sampled_drain.h"

#include <atomic>

#include "options.h"
#include "thread_state.h"
#include "writer/drain_thread.h"
#include "writer/trace_file.h"

namespace heapline::preload {
namespace {

constexpr uint64_t kNever = ~0ull;

uint64_t g_rss_interval = 0;             // ticks; 0 = no RSS samples
std::atomic<uint64_t> g_next_rss{kNever};  // tick of the next RSS sample a sample point takes
uint64_t g_start_at = kNever;            // tick at which the thread starts anyway
uint32_t g_sealed_limit = 0;             // seals that start it
std::atomic<uint32_t> g_seals_checked{0};  // seal_events() when the ring was last looked at

uint64_t ticks_of_ms(uint64_t ms) { return (ms * 1000000ull) >> format::kTimeShift; }

// Whether the ring holds enough for the thread: looked at only after a seal (the one event that
// can change the answer; a chunk being filled is sealed when full).
bool ring_needs_drain() {
  TraceFile& file = trace_file();
  const uint32_t seals = file.seal_events().load(std::memory_order_acquire);
  uint32_t checked = g_seals_checked.load(std::memory_order_relaxed);
  if (seals == checked ||
      !g_seals_checked.compare_exchange_strong(checked, seals, std::memory_order_relaxed))
    return false;  // nothing new, or another thread is looking
  // Without the thread nothing frees a chunk: every seal so far is a sealed chunk.
  return seals >= g_sealed_limit || file.undrained_bytes() > kSampledRawTailBytes;
}

}  // namespace

void defer_drain_for_sampling(const Options& options, uint64_t now) {
  g_rss_interval = options.rss_interval_ms ? ticks_of_ms(options.rss_interval_ms) : 0;
  g_next_rss.store(g_rss_interval ? now + g_rss_interval : kNever, std::memory_order_relaxed);
  g_start_at = now + ticks_of_ms(kSampledDrainAfterMs);
  g_sealed_limit = options.ring_chunks / 8 > 0 ? options.ring_chunks / 8 : 1;
  g_seals_checked.store(0, std::memory_order_relaxed);
  // Never due by the writer's own test: it is started from here.
  defer_drain_thread(options, kNever);
}

void start_drain_thread_if_worth_it(uint64_t now) {
  if (__builtin_expect(!drain_thread_deferred(), 1)) return;
  if (now >= g_start_at || ring_needs_drain()) start_drain_thread_if_due(/*now=*/true);
}

void record_rss_if_due(uint64_t now) {
  uint64_t due = g_next_rss.load(std::memory_order_relaxed);
  if (__builtin_expect(now < due, 1) || !drain_thread_deferred()) return;
  // One thread takes it.
  if (!g_next_rss.compare_exchange_strong(due, now + g_rss_interval, std::memory_order_relaxed))
    return;
  InternalPhase internal;  // sscanf of /proc/self/statm
  // Dated when it was due, not when read: the next is due an interval after this date.
  record_rss_at(now);
}

}  // namespace heapline::preload

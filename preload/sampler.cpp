#include "sampler.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cmath>

#include "clock.h"

namespace heapline::preload {

uint64_t g_sample_bytes = 0;
uint64_t g_sample_seed = 0;

namespace {

constexpr uint64_t kEmpty = 0;
constexpr uint64_t kTombstone = 1;  // a forgotten block: lookups go on past it
constexpr int kSetBits = 20;        // 1 Mi slots (8 MiB of address space, touched as used)
constexpr uint64_t kSetMask = (1ull << kSetBits) - 1;
constexpr int kFilterBits = 18;     // 32 KiB bitmap
constexpr uint64_t kFilterMask = (1ull << kFilterBits) - 1;

std::atomic<uint64_t>* g_slots = nullptr;
std::atomic<uint64_t> g_filter[(1ull << kFilterBits) / 64];
// When the set fills up, frees stop being filtered: every free is recorded and the analyzer
// ignores the ones it has no allocation for. Correct, only slower.
std::atomic<bool> g_set_full{false};
std::atomic<uint64_t> g_used_slots{0};

uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return x;
}

uint64_t next_random(uint64_t& state) {  // xorshift64*
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return state * 2685821657736338717ull;
}

int64_t draw_gap(ThreadState& t) {
  // Exponential with mean N: -N ln(U), U uniform in (0, 1].
  const double u = (static_cast<double>(next_random(t.sample_rng) >> 11) + 1.0) * 0x1.0p-53;
  return static_cast<int64_t>(-std::log(u) * static_cast<double>(g_sample_bytes)) + 1;
}

}  // namespace

void init_sampler(uint64_t sample_bytes, uint64_t seed) {
  g_sample_bytes = sample_bytes;
  g_sample_seed = seed ? seed : monotonic_ns() ^ (static_cast<uint64_t>(getpid()) << 32);
  if (!sample_bytes) return;
  void* mem = mmap(nullptr, (1ull << kSetBits) * sizeof(uint64_t), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) {
    g_set_full.store(true);
    return;
  }
  g_slots = static_cast<std::atomic<uint64_t>*>(mem);
}

void reset_sampler_after_fork() {
  if (!g_slots) return;
  // The child is single-threaded here: wipe the parent's blocks (its copy of them).
  madvise(g_slots, (1ull << kSetBits) * sizeof(uint64_t), MADV_DONTNEED);
  for (auto& word : g_filter) word.store(0, std::memory_order_relaxed);
  g_used_slots.store(0);
  g_set_full.store(false);
}

bool sample_crossed(ThreadState& t) {
  if (t.sample_rng == 0) {
    // First allocation of this thread: start its own stream, then place the first point. The
    // stream is chosen by the thread's rank in starting to allocate, not by its tid, so a fixed
    // seed reproduces a run (exactly, for a program whose threads start in a fixed order).
    static std::atomic<uint64_t> next_rank{0};
    const uint64_t rank = next_rank.fetch_add(1, std::memory_order_relaxed) + 1;
    t.sample_rng = mix(g_sample_seed ^ (rank * 0x9E3779B97F4A7C15ull)) | 1;
    t.bytes_until_sample += draw_gap(t);
    if (t.bytes_until_sample > 0) return false;
  }
  while (t.bytes_until_sample <= 0) t.bytes_until_sample += draw_gap(t);
  return true;
}

void remember_sampled(const void* p) {
  const auto key = reinterpret_cast<uint64_t>(p);
  if (!g_slots || key <= kTombstone) return;
  const uint64_t h = mix(key);
  g_filter[(h & kFilterMask) / 64].fetch_or(1ull << (h & 63), std::memory_order_release);
  if (g_used_slots.fetch_add(1, std::memory_order_relaxed) > (kSetMask * 3) / 4) {
    g_set_full.store(true, std::memory_order_release);
    return;
  }
  for (uint64_t i = (h >> kFilterBits) & kSetMask;; i = (i + 1) & kSetMask) {
    uint64_t seen = g_slots[i].load(std::memory_order_relaxed);
    if ((seen == kEmpty || seen == kTombstone) &&
        g_slots[i].compare_exchange_strong(seen, key, std::memory_order_acq_rel))
      return;
  }
}

bool forget_sampled(const void* p) {
  const auto key = reinterpret_cast<uint64_t>(p);
  if (!g_slots || g_set_full.load(std::memory_order_acquire)) return true;
  const uint64_t h = mix(key);
  if (!(g_filter[(h & kFilterMask) / 64].load(std::memory_order_acquire) & (1ull << (h & 63))))
    return false;
  for (uint64_t i = (h >> kFilterBits) & kSetMask;; i = (i + 1) & kSetMask) {
    const uint64_t seen = g_slots[i].load(std::memory_order_acquire);
    if (seen == kEmpty) return false;
    if (seen == key) {
      g_slots[i].store(kTombstone, std::memory_order_release);
      return true;
    }
  }
}

}  // namespace heapline::preload

// Puts back in order what the merge of one tick could not order.
//
// Record times are ticks of 65 us (format::kTimeShift), and within one tick the reader cannot
// tell the order of two threads' records: it puts a free first only when it is at the head of
// its thread's records (see trace_reader.cpp). Two things follow, both from a block passing
// between threads within a tick, and both fixed here for the model and its replays:
//  - an early free: thread B frees a block that thread A allocated, and B's free comes first,
//    naming an address that is not live yet. It is kept for that tick and the next; an
//    allocation of that address by another thread meanwhile is the block it freed.
//  - an owed free: thread A allocates at an address that is still live, because the free of
//    the block there (by B, earlier in real time) comes later in the merge. The allocator never
//    returns a live block, so the old block was freed: the caller ends it now, and the next free
//    of that address in the window is that free, not one of the new block.
// The window is 16 ticks (~1 ms), not one: the threads' clocks are not exactly in step (rdtsc
// on different CPUs of a VM), so two records a few ns apart can land in different ticks (1 in
// 200 000 handoffs in tests/analysis, analysis_handoff.c), and with a window of two ticks a few
// repairs in 2 000 dlopen/dlclose rounds from four threads (tests/reliability) were still
// missed. A free still early after the window freed a block allocated before recording
// started; a free still owed was not recorded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "heapline/trace_format.h"

namespace heapline::analysis {

class TickOrder {
 public:
  struct Free {
    uint64_t address;
    uint32_t tid;
    format::AllocApi api;
  };

  void add_early_free(uint64_t time_ns, const Free& f) {
    forget_before(time_ns);
    early_.push_back({f, time_ns});
  }
  // The early free of `address` by another thread in the window, if any (and forgets it).
  bool take_early_free(uint64_t time_ns, uint64_t address, uint32_t tid, Free* out) {
    if (early_.empty()) return false;  // nearly always (and forgetting can wait)
    forget_before(time_ns);
    for (size_t i = 0; i < early_.size(); ++i) {
      if (early_[i].free.address != address || early_[i].free.tid == tid) continue;
      *out = early_[i].free;
      early_[i] = early_.back();
      early_.pop_back();
      return true;
    }
    return false;
  }

  void owe_free(uint64_t time_ns, uint64_t address) {
    forget_before(time_ns);
    owed_.push_back({{address, 0, format::AllocApi::kFree}, time_ns});
  }
  // True (and forgets it) if a free of `address` is owed: this free ended the block already.
  bool take_owed_free(uint64_t time_ns, uint64_t address) {
    if (owed_.empty()) return false;
    forget_before(time_ns);
    for (size_t i = 0; i < owed_.size(); ++i) {
      if (owed_[i].free.address != address) continue;
      owed_[i] = owed_.back();
      owed_.pop_back();
      return true;
    }
    return false;
  }

 private:
  struct Kept {
    Free free;
    uint64_t time_ns;
  };
  // Keeps what came in the last kWindowNs (records come in time order).
  void forget_before(uint64_t time_ns) {
    if (time_ns == now_ns_) return;
    now_ns_ = time_ns;
    for (std::vector<Kept>* list : {&early_, &owed_}) {
      size_t kept = 0;
      for (const Kept& k : *list)
        if (k.time_ns + kWindowNs >= time_ns) (*list)[kept++] = k;
      list->resize(kept);
    }
  }
  static constexpr uint64_t kWindowNs = 16ull << format::kTimeShift;  // 16 ticks, ~1 ms
  uint64_t now_ns_ = 0;
  std::vector<Kept> early_, owed_;  // a handful at most
};

}  // namespace heapline::analysis

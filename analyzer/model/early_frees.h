// Frees that reach the model before the allocation they free.
//
// Record times are ticks of 65 us (format::kTimeShift), and within one tick the reader cannot
// tell the order of two threads' records: it puts frees first (see trace_reader.cpp). So when
// thread A allocates a block and thread B frees it within the same tick, the free comes first
// and names an address that is not live yet. Such a free is kept here for that tick and the
// next; an allocation of that address by another thread meanwhile is the block it freed. The
// next tick too, because the threads' clocks are not exactly in step (rdtsc on different CPUs of
// a VM): a free read a few ns "before" its allocation lands a tick early when the two straddle a
// tick boundary (1 in 200 000 handoffs in tests/analysis, analysis_handoff.c). A free still
// unmatched after that freed a block allocated before recording started.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace heapline::analysis {

class EarlyFrees {
 public:
  struct Free {
    uint64_t address;
    uint32_t tid;
    bool implicit;  // realloc's release of the old block
  };

  void add(uint64_t time_ns, const Free& f) {
    forget_before(time_ns);
    frees_.push_back({f, time_ns});
  }
  // The free of `address` by another thread earlier in this tick, if any (and forgets it).
  bool take(uint64_t time_ns, uint64_t address, uint32_t tid, Free* out) {
    forget_before(time_ns);
    for (size_t i = 0; i < frees_.size(); ++i) {
      if (frees_[i].free.address != address || frees_[i].free.tid == tid) continue;
      *out = frees_[i].free;
      frees_[i] = frees_.back();
      frees_.pop_back();
      return true;
    }
    return false;
  }

 private:
  // Keeps the frees of the current tick and of the one before (records come in time order).
  void forget_before(uint64_t time_ns) {
    if (time_ns == now_ns_) return;
    previous_ns_ = now_ns_;
    now_ns_ = time_ns;
    if (frees_.empty()) return;
    size_t kept = 0;
    for (const Kept& k : frees_)
      if (k.time_ns >= previous_ns_) frees_[kept++] = k;
    frees_.resize(kept);
  }
  struct Kept {
    Free free;
    uint64_t time_ns;
  };
  uint64_t now_ns_ = 0, previous_ns_ = 0;
  std::vector<Kept> frees_;  // a handful at most
};

}  // namespace heapline::analysis

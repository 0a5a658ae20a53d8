// The hand-over between the pipeline's two threads (record_pipeline.cpp): a fixed set of
// batches going round, filled by the reader, emptied by the visitor.
//
// Why each side spins before it sleeps: the two halves take about as long per record (~25 ns to
// decode, ~30 to model on the 2-core VM), so one often waits for the other for a few
// microseconds. Waking a thread asleep on a condition variable took 0.1 to 0.7 ms there (perf
// sched), several batches' worth of work, and with a sleep at almost every hand-over a python3
// report's read spent 20-60 ms of its ~120 ms waiting. So a side that finds nothing to take
// first watches the other side's count for up to kSpin, and sleeps only when the other side is
// truly stalled (a table doubling, a descheduled thread). A reader that does sleep waits until
// half the batches are free, so that once awake it has a run of work ahead, not one batch.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <vector>

#include "reader/record_batch.h"

namespace heapline::analysis::pipeline {

// Thrown inside the reader's thread when the consumer gave up (its visitor threw).
struct Cancelled {};

class BatchChannel {
 public:
  // `batches` batches of `events` events each.
  BatchChannel(size_t batches, size_t events) : refill_(batches / 2 ? batches / 2 : 1) {
    for (size_t i = 0; i < batches; ++i) {
      storage_.push_back(std::make_unique<Batch>());
      storage_.back()->events = std::make_unique<Event[]>(events);
      empty_.push_back(storage_.back().get());
    }
    empty_count_ = batches;
  }

  // Reader side: an empty batch to fill (blocks while all are in flight).
  Batch* take_empty() {
    spin_until([&] { return empty_count_.load(std::memory_order_relaxed) != 0 || cancelled_flag_; });
    std::unique_lock lock(mutex_);
    if (empty_.empty() && !cancelled_) {
      reader_asleep_ = true;
      empty_ready_.wait(lock, [&] { return empty_.size() >= refill_ || cancelled_; });
      reader_asleep_ = false;
    }
    if (cancelled_) throw Cancelled{};
    Batch* b = empty_.back();
    empty_.pop_back();
    empty_count_.store(empty_.size(), std::memory_order_relaxed);
    b->clear();
    return b;
  }
  void publish(Batch* b) {
    {
      std::lock_guard lock(mutex_);
      full_.push_back(b);
      full_count_.store(full_.size(), std::memory_order_relaxed);
    }
    full_ready_.notify_one();  // no system call unless the consumer sleeps
  }
  // The reader is done, normally or with `error` (null when normally).
  void finish(std::exception_ptr error) {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
      error_ = std::move(error);
    }
    done_flag_ = true;
    full_ready_.notify_one();
  }

  // Consumer side: the next filled batch, or null when the reader is done and all were taken.
  Batch* take_full() {
    spin_until([&] { return full_count_.load(std::memory_order_relaxed) != 0 || done_flag_; });
    std::unique_lock lock(mutex_);
    full_ready_.wait(lock, [&] { return !full_.empty() || done_; });
    if (full_.empty()) return nullptr;
    Batch* b = full_.front();
    full_.pop_front();
    full_count_.store(full_.size(), std::memory_order_relaxed);
    return b;
  }
  void recycle(Batch* b) {
    bool wake;
    {
      std::lock_guard lock(mutex_);
      empty_.push_back(b);
      empty_count_.store(empty_.size(), std::memory_order_relaxed);
      wake = reader_asleep_ && empty_.size() >= refill_;
    }
    if (wake) empty_ready_.notify_one();
  }
  void cancel() {
    {
      std::lock_guard lock(mutex_);
      cancelled_ = true;
    }
    cancelled_flag_ = true;
    empty_ready_.notify_one();
  }
  std::exception_ptr error() {
    std::lock_guard lock(mutex_);
    return error_;
  }
  // Whether the reader sleeps until batches are free (past its spin).
  bool reader_asleep() {
    std::lock_guard lock(mutex_);
    return reader_asleep_;
  }

 private:
  static constexpr std::chrono::microseconds kSpin{200};

  // Returns once `ready()` holds or kSpin has passed; the caller then checks under the lock.
  template <typename Ready>
  static void spin_until(Ready ready) {
    if (ready()) return;
    const auto deadline = std::chrono::steady_clock::now() + kSpin;
    do {
      for (int i = 0; i < 64; ++i) {
        if (ready()) return;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();  // lets the sibling hyperthread run, saves power
#endif
      }
    } while (std::chrono::steady_clock::now() < deadline);
  }

  const size_t refill_;  // a sleeping reader wakes when this many batches are free
  std::mutex mutex_;
  std::condition_variable empty_ready_, full_ready_;
  std::vector<std::unique_ptr<Batch>> storage_;
  std::vector<Batch*> empty_;
  std::deque<Batch*> full_;
  bool done_ = false;
  bool cancelled_ = false;
  bool reader_asleep_ = false;
  std::exception_ptr error_;
  // Copies of the above that the spinning side reads without the lock (hints only: every
  // decision is taken again under it).
  std::atomic<size_t> empty_count_{0}, full_count_{0};
  std::atomic<bool> done_flag_{false}, cancelled_flag_{false};
};

}  // namespace heapline::analysis::pipeline

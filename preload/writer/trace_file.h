// The trace file and its ring of chunks (see include/heapline/trace_format.h for the layout).
//
// Producers (application threads) take a free chunk with one CAS, append records to it without
// any lock, and seal it when full. The drain thread compresses sealed chunks into frames appended
// after the ring and frees them. Only chunk acquisition can wait: when every chunk is in use,
// producers sleep on a futex until the drain frees one.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "heapline/trace_format.h"

namespace heapline::preload {

struct Options;

// Sampling mode: a chunk's disk blocks are allocated this many bytes at a time (see backing_step_).
constexpr uint32_t kSampledBackingStep = 16 * 1024;

class TraceFile {
 public:
  // Creates a new trace file from options' pattern (never overwriting an existing file: a
  // "-N" suffix is added, so an exec'd image with the same pid keeps its predecessor's trace).
  // On failure returns false with a message in `why`.
  bool create(const Options& options, int pid, int ppid, const char* exe_name, char* why,
              size_t why_size);
  // In a forked child: forget the parent's file and mapping without touching their contents.
  void abandon_after_fork();

  bool is_open() const { return header_ != nullptr; }
  // The process the trace is of (0 when none is open). A vfork child runs on its parent's memory,
  // this object included, and tells itself apart by its own getpid().
  int pid() const { return pid_; }
  const char* path() const { return path_; }
  uint64_t start_monotonic_ns() const { return start_monotonic_ns_; }
  uint32_t chunk_size() const { return chunk_size_; }

  // Producer side. acquire_chunk returns null when no chunk became free in time (the caller
  // counts its event as lost) or the file failed. Without `may_wait` it returns null at once
  // when no chunk is free: the drain thread's own records must not wait for the drain.
  format::ChunkHeader* acquire_chunk(uint32_t tid, uint64_t base_time, bool may_wait = true);
  void seal_chunk(format::ChunkHeader* chunk);
  static uint8_t* chunk_data(format::ChunkHeader* c) { return reinterpret_cast<uint8_t*>(c + 1); }
  // End of the part of `c` (a chunk the caller owns) that has its disk blocks: its owner writes
  // no further before extend_backing. The whole chunk in full mode; in sampling mode chunks get
  // their blocks kSampledBackingStep at a time (see backing_step_).
  uint8_t* backed_end(const format::ChunkHeader* c) const;
  // Gives the owner's chunk `c` blocks up to at least `end` bytes from its start (the next steps,
  // or, without `allocate_blocks`, the pages as they are touched). False if the disk is full.
  bool extend_backing(const format::ChunkHeader* c, uint32_t end, bool allocate_blocks);

  // Drain side: calls `compress_and_append` for each sealed chunk in sequence order, then frees
  // it. Returns the number drained, or -1 if appending failed (the file is then unusable).
  template <typename Fn>
  int drain_sealed(Fn&& compress_and_append);
  // Gives the disk blocks of drained chunks back (at exit, after the last drain pass): a trace
  // on disk is then its frames plus the chunks still in use, not every chunk ever used.
  void release_drained_chunks();
  // Bytes of records in chunks not yet drained (owned or sealed): what a reader would read from
  // the ring, uncompressed, if the process ended now.
  uint64_t undrained_bytes() const;
  // Gives back the disk blocks of the pages past the records of `own` (the calling thread's
  // chunk, or null) and of every sealed chunk: at an exit that leaves them in the ring, the
  // trace on disk is then the records' pages, not whole chunks. Other threads' chunks are left
  // alone (their owners may be writing past `used`).
  void release_unused_tails(const format::ChunkHeader* own);
  // Gives back the disk blocks past the records of `own`, a chunk the calling thread owns and is
  // about to seal without a drain pass (before an exec): nobody else writes into it meanwhile.
  void release_own_tail(const format::ChunkHeader* own);
  // Appends bytes at the end of the compressed region and publishes the new end in the header.
  bool append_frame(const void* data, size_t size);
  // Futex word bumped on every seal; the drain thread sleeps on it.
  std::atomic<uint32_t>& seal_events() { return seal_events_; }

  // Damage from outside (see file_guard.h). After give_up() nothing is appended any more and
  // producers stop waiting for chunks. detach_mapping() also puts anonymous memory where the
  // file was mapped, so stores into a truncated file cannot fault (async-signal-safe).
  int fd() const { return fd_; }
  size_t map_size() const { return map_size_; }
  bool maps(const void* p) const {
    const auto* q = static_cast<const uint8_t*>(p);
    return map_ && q >= map_ && q < map_ + map_size_;
  }
  void detach_mapping();
  void give_up() { given_up_.store(true, std::memory_order_release); }
  bool given_up() const { return given_up_.load(std::memory_order_acquire); }
  // A chunk could not get disk blocks (fallocate failed: disk full or quota).
  bool out_of_space() const { return out_of_space_.load(std::memory_order_acquire); }
  // From the recorder's ELF destructor on: the program is exiting, and the few records still to
  // come (other libraries' destructors) go into chunks without fallocate, so they take a page
  // or two on disk, not a whole chunk each.
  void set_finishing() { finishing_.store(true, std::memory_order_release); }
  bool finishing() const { return finishing_.load(std::memory_order_acquire); }

 private:
  format::ChunkHeader* chunk_at(uint32_t index) const {
    return reinterpret_cast<format::ChunkHeader*>(ring_ + static_cast<size_t>(index) * chunk_size_);
  }
  // Punches the pages of chunk `index` past its records.
  void release_tail(uint32_t index);
  uint32_t index_of(const format::ChunkHeader* c) const {
    return static_cast<uint32_t>((reinterpret_cast<const uint8_t*>(c) - ring_) / chunk_size_);
  }
  // Marks chunk `index` as backed, giving it its first disk blocks now (fallocate) if
  // `allocate_blocks`.
  bool back_chunk(uint32_t index, bool allocate_blocks);

  char path_[1100] = {};
  int fd_ = -1;
  int pid_ = 0;
  uint8_t* map_ = nullptr;
  size_t map_size_ = 0;
  format::FileHeader* header_ = nullptr;
  uint8_t* ring_ = nullptr;
  uint32_t chunk_size_ = 0;
  uint32_t chunk_count_ = 0;
  uint64_t start_monotonic_ns_ = 0;
  uint64_t data_end_ = 0;
  std::atomic<uint64_t> next_seq_{1};
  std::atomic<uint32_t> seal_events_{0};
  std::atomic<uint32_t> free_events_{0};
  std::atomic<uint8_t>* backed_ = nullptr;  // per chunk: 1 once fallocate'd (see back_chunk)
  // Per chunk: bytes from its start that have disk blocks (or will get them as touched). Written
  // by the chunk's owner, read by others only for chunks sealed or free.
  std::atomic<uint32_t>* backed_bytes_ = nullptr;
  // Bytes of a chunk fallocate'd at a time. The whole chunk in full mode, which fills chunks.
  // A sampled run writes a few bytes per sample point, and a chunk's unused blocks are punched
  // back at exit, a hole punch of ~60 us (ext4, median; a journal commit can make it
  // milliseconds) per chunk, most of a short sampled run's cost at exit: backed a step at a
  // time, a chunk has less than a step of unused blocks, left as they are.
  uint32_t backing_step_ = 0;
  std::atomic<bool> given_up_{false};
  std::atomic<bool> out_of_space_{false};
  std::atomic<bool> finishing_{false};
};

TraceFile& trace_file();

// Wakes every waiter on a futex word / waits while it still holds `expected` (with a timeout).
void futex_wake_all(std::atomic<uint32_t>& word);
void futex_wait(std::atomic<uint32_t>& word, uint32_t expected, long timeout_ms);

template <typename Fn>
int TraceFile::drain_sealed(Fn&& compress_and_append) {
  using format::ChunkState;
  int drained = 0;
  // Oldest first, so the compressed region stays roughly in time order.
  for (;;) {
    format::ChunkHeader* oldest = nullptr;
    for (uint32_t i = 0; i < chunk_count_; ++i) {
      if (!backed_[i].load(std::memory_order_relaxed)) continue;
      format::ChunkHeader* c = chunk_at(i);
      if (c->state.load(std::memory_order_acquire) != static_cast<uint32_t>(ChunkState::kSealed))
        continue;
      if (!oldest || c->seq < oldest->seq) oldest = c;
    }
    if (!oldest) return drained;
    if (!compress_and_append(*oldest, chunk_data(oldest))) return -1;
    // Only after the frame is whole on disk: a crash before this leaves both, and the reader
    // keeps one copy by sequence number.
    oldest->state.store(static_cast<uint32_t>(ChunkState::kFree), std::memory_order_release);
    free_events_.fetch_add(1, std::memory_order_release);
    futex_wake_all(free_events_);
    ++drained;
  }
}

}  // namespace heapline::preload

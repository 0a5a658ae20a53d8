#include "trace_file.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>

#include "../clock.h"
#include "../fork_gate.h"
#include "../options.h"
#include "file_guard.h"

namespace heapline::preload {

using format::ChunkHeader;
using format::ChunkState;

TraceFile& trace_file() {
  // Never destroyed: threads may still append while the process runs its exit handlers.
  alignas(TraceFile) static unsigned char storage[sizeof(TraceFile)];
  static TraceFile* instance = new (storage) TraceFile();
  return *instance;
}

void futex_wake_all(std::atomic<uint32_t>& word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr,
          nullptr, 0);
}

void futex_wait(std::atomic<uint32_t>& word, uint32_t expected, long timeout_ms) {
  timespec ts{timeout_ms / 1000, (timeout_ms % 1000) * 1000000};
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected, &ts,
          nullptr, 0);
}

namespace {

// Opens `path` exclusively; if it exists, tries "name-1.trace", "name-2.trace", ...
int open_new_file(const char* pattern_path, char* path, size_t path_size) {
  snprintf(path, path_size, "%s", pattern_path);
  const char* dot = strrchr(pattern_path, '.');
  const char* slash = strrchr(pattern_path, '/');
  const size_t stem = (dot && (!slash || dot > slash)) ? static_cast<size_t>(dot - pattern_path)
                                                       : strlen(pattern_path);
  for (int attempt = 0; attempt < 1000; ++attempt) {
    if (attempt > 0)
      snprintf(path, path_size, "%.*s-%d%s", static_cast<int>(stem), pattern_path, attempt,
               pattern_path + stem);
    const int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0 || errno != EEXIST) return fd;
  }
  errno = EEXIST;
  return -1;
}

// The per-chunk backing table: a state byte per chunk, then the backed bytes per chunk.
size_t backed_bytes_offset(uint32_t chunks) { return (chunks + 7) / 8 * 8; }
size_t backing_table_size(uint32_t chunks) {
  return backed_bytes_offset(chunks) + chunks * sizeof(uint32_t);
}

void append_to_manifest(const char* manifest, const char* path) {
  if (!*manifest) return;
  const int fd = open(manifest, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return;
  char line[2300];
  char abs[1100];
  if (path[0] != '/' && getcwd(abs, sizeof abs - 100)) {
    snprintf(line, sizeof line, "%s/%s\n", abs, path);
  } else {
    snprintf(line, sizeof line, "%s\n", path);
  }
  ssize_t ignored = write(fd, line, strlen(line));  // one write: O_APPEND keeps lines whole
  (void)ignored;
  close(fd);
}

}  // namespace

bool TraceFile::create(const Options& options, int pid, int ppid, const char* exe_name, char* why,
                       size_t why_size) {
  char pattern_path[1024];
  if (!expand_output_pattern(options.output_pattern, pid, exe_name, pattern_path,
                             sizeof pattern_path)) {
    snprintf(why, why_size, "output path pattern too long");
    return false;
  }
  fd_ = open_new_file(pattern_path, path_, sizeof path_);
  if (fd_ < 0) {
    snprintf(why, why_size, "cannot create trace file '%s': %s", pattern_path, strerror(errno));
    return false;
  }
  chunk_size_ = options.chunk_size;
  chunk_count_ = options.ring_chunks;
  const uint64_t ring_offset = format::kFileHeaderSize;
  map_size_ = ring_offset + static_cast<size_t>(chunk_size_) * chunk_count_;
  // The ring is sparse: a chunk gets disk blocks (fallocate) the first time it is used, so a
  // full disk shows up as a failed fallocate here instead of SIGBUS in the target later.
  if (ftruncate(fd_, static_cast<off_t>(map_size_)) != 0 ||
      (fallocate(fd_, 0, 0, format::kFileHeaderSize) != 0 && errno != EOPNOTSUPP)) {
    snprintf(why, why_size, "cannot size trace file '%s': %s", path_, strerror(errno));
    close(fd_);
    unlink(path_);
    fd_ = -1;
    return false;
  }
  void* map = mmap(nullptr, map_size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
  void* backed = mmap(nullptr, backing_table_size(chunk_count_), PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (map == MAP_FAILED || backed == MAP_FAILED) {
    snprintf(why, why_size, "cannot map trace file '%s': %s", path_, strerror(errno));
    close(fd_);
    fd_ = -1;
    return false;
  }
  // No readahead: the first store into the header page would otherwise have the kernel read
  // (zero-fill) a large folio of the sparse file around it; that was 40% of the recorder's
  // start-up (/bin/true: 5.4 ms of CPU, perf). Pages are faulted one by one as chunks are used.
  madvise(map, map_size_, MADV_RANDOM);
  map_ = static_cast<uint8_t*>(map);
  backed_ = static_cast<std::atomic<uint8_t>*>(backed);
  backed_bytes_ = reinterpret_cast<std::atomic<uint32_t>*>(static_cast<uint8_t*>(backed) +
                                                           backed_bytes_offset(chunk_count_));
  backing_step_ = options.sample_bytes ? std::min(kSampledBackingStep, chunk_size_) : chunk_size_;
  ring_ = map_ + ring_offset;
  start_monotonic_ns_ = monotonic_ns();
  data_end_ = map_size_;

  auto* h = reinterpret_cast<format::FileHeader*>(map_);
  h->version = format::kVersion;
  h->header_size = format::kFileHeaderSize;
  h->chunk_size = chunk_size_;
  h->chunk_count = chunk_count_;
  h->ring_offset = ring_offset;
  h->data_offset = map_size_;
  h->data_end = map_size_;
  h->pid = static_cast<uint32_t>(pid);
  h->ppid = static_cast<uint32_t>(ppid);
  h->start_realtime_ns = realtime_ns();
  h->start_monotonic_ns = start_monotonic_ns_;
  h->time_shift = format::kTimeShift;
  h->sample_bytes = options.sample_bytes;
  std::atomic_signal_fence(std::memory_order_release);
  memcpy(h->magic, format::kFileMagic, sizeof h->magic);  // last: a torn header is not valid
  header_ = h;
  pid_ = pid;
  append_to_manifest(options.manifest_path, path_);
  install_file_guard();
  return true;
}

void TraceFile::abandon_after_fork() {
  // The mapping and the descriptor are the parent's file: drop our view, never write to it.
  if (map_) munmap(map_, map_size_);
  if (backed_) munmap(backed_, backing_table_size(chunk_count_));
  if (fd_ >= 0) close(fd_);
  map_ = nullptr;
  backed_ = nullptr;
  backed_bytes_ = nullptr;
  header_ = nullptr;
  ring_ = nullptr;
  fd_ = -1;
  pid_ = 0;
  next_seq_.store(1);
  seal_events_.store(0);
  free_events_.store(0);
  given_up_.store(false);
  out_of_space_.store(false);
  finishing_.store(false);
}

void TraceFile::detach_mapping() {
  if (!map_) return;
  mmap(map_, map_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  give_up();
}

bool TraceFile::back_chunk(uint32_t index, bool allocate_blocks) {
  // Once the disk is known full, not even a finishing process may take a chunk without blocks:
  // its first store would fault (SIGBUS on tmpfs) instead of being refused here.
  if (out_of_space()) return false;
  uint8_t expected = 0;
  if (!backed_[index].compare_exchange_strong(expected, 2)) {
    while (backed_[index].load(std::memory_order_acquire) == 2) {
    }
    return backed_[index].load(std::memory_order_acquire) == 1;
  }
  const off_t offset = static_cast<off_t>(format::kFileHeaderSize) +
                       static_cast<off_t>(index) * chunk_size_;
  const bool fallocated = allocate_blocks && !finishing();
  if (fallocated && fallocate(fd_, 0, offset, backing_step_) != 0 && errno != EOPNOTSUPP) {
    backed_[index].store(3, std::memory_order_release);  // 3: unusable (disk full)
    out_of_space_.store(true, std::memory_order_release);  // the drain says so and stops
    return false;
  }
  backed_bytes_[index].store(fallocated ? backing_step_ : chunk_size_, std::memory_order_relaxed);
  backed_[index].store(1, std::memory_order_release);
  return true;
}

uint8_t* TraceFile::backed_end(const format::ChunkHeader* c) const {
  return ring_ + static_cast<size_t>(index_of(c)) * chunk_size_ +
         backed_bytes_[index_of(c)].load(std::memory_order_relaxed);
}

bool TraceFile::extend_backing(const format::ChunkHeader* c, uint32_t end, bool allocate_blocks) {
  const uint32_t index = index_of(c);
  const uint32_t have = backed_bytes_[index].load(std::memory_order_relaxed);
  if (end <= have) return true;
  if (!allocate_blocks || finishing() || given_up()) {
    // As back_chunk without blocks: the pages get theirs as they are touched. (A given-up file
    // gets no more system calls: after a truncation, fallocate would make it long again.)
    backed_bytes_[index].store(chunk_size_, std::memory_order_relaxed);
    return true;
  }
  if (out_of_space()) return false;
  const uint32_t want = std::min(chunk_size_, (end + backing_step_ - 1) / backing_step_ * backing_step_);
  const off_t offset = static_cast<off_t>(format::kFileHeaderSize) +
                       static_cast<off_t>(index) * chunk_size_ + have;
  if (fallocate(fd_, 0, offset, want - have) != 0 && errno != EOPNOTSUPP) {
    out_of_space_.store(true, std::memory_order_release);
    return false;
  }
  backed_bytes_[index].store(want, std::memory_order_relaxed);
  return true;
}

ChunkHeader* TraceFile::acquire_chunk(uint32_t tid, uint64_t base_time, bool may_wait) {
  if (!header_) return nullptr;
  constexpr long kWaitStepMs = 10;
  constexpr int kMaxWaitSteps = 3000;  // 30 s: a starved ring means something is very wrong
  for (int step = 0; step <= kMaxWaitSteps; ++step) {
    const uint32_t seen_frees = free_events_.load(std::memory_order_acquire);
    // Prefer chunks that already have disk blocks; back a new one only when none is free.
    for (int pass = 0; pass < 2; ++pass) {
      for (uint32_t i = 0; i < chunk_count_; ++i) {
        const uint8_t backed = backed_[i].load(std::memory_order_acquire);
        if (pass == 0 ? backed != 1 : backed != 0) continue;
        ChunkHeader* c = chunk_at(i);
        // A thread that may not wait (the drain thread, whose own chunk fills at a few records
        // a second, or a signal handler's nested record) gets blocks only for the pages it
        // touches: an _exit or abort, which skips the exit's drain, then leaves just those.
        if (pass == 1 && !back_chunk(i, /*allocate_blocks=*/may_wait)) return nullptr;  // disk full
        uint32_t expected = static_cast<uint32_t>(ChunkState::kFree);
        if (!c->state.compare_exchange_strong(expected, static_cast<uint32_t>(ChunkState::kOwned),
                                              std::memory_order_acq_rel))
          continue;
        // Order matters for a reader after a crash: `used` first, then the new seq.
        c->used.store(0, std::memory_order_release);
        // A release store only keeps earlier accesses before it; without this barrier the
        // compiler may hoist the seq store above it, and a crash in between would show the
        // old records under a new seq (read twice). See docs/trace-format.md, "Acquisition".
        std::atomic_signal_fence(std::memory_order_seq_cst);
        c->seq = next_seq_.fetch_add(1, std::memory_order_relaxed);
        c->tid = tid;
        c->base_time = base_time;
        std::atomic_signal_fence(std::memory_order_release);
        c->magic = format::kChunkMagic;
        return c;
      }
    }
    // A given-up file is never drained again: waiting for a free chunk would stall the target.
    if (!may_wait || given_up()) return nullptr;
    futex_wake_all(seal_events_);  // make sure the drain is awake
    ForkWindow window;              // this wait holds nothing a forked child would need
    futex_wait(free_events_, seen_frees, kWaitStepMs);
  }
  return nullptr;
}

void TraceFile::release_drained_chunks() {
  if (!header_ || given_up()) return;
  for (uint32_t i = 0; i < chunk_count_; ++i) {
    if (backed_[i].load(std::memory_order_acquire) != 1) continue;
    ChunkHeader* c = chunk_at(i);
    // Claimed like a producer would, so no thread takes it while its blocks go.
    uint32_t expected = static_cast<uint32_t>(ChunkState::kFree);
    if (!c->state.compare_exchange_strong(expected, static_cast<uint32_t>(ChunkState::kOwned),
                                          std::memory_order_acq_rel))
      continue;
    const off_t offset = static_cast<off_t>(format::kFileHeaderSize) +
                         static_cast<off_t>(i) * chunk_size_;
    // The hole reads as zeros: no magic, state free, a chunk never used; storing "free" into it
    // would give its first page a disk block again. Reused later, it is backed again.
    // (At worst a thread taking it in between writes into the hole without fallocate: its
    // pages then get blocks as they are touched, as after set_finishing().)
    static_assert(static_cast<uint32_t>(ChunkState::kFree) == 0);
    backed_[i].store(0, std::memory_order_release);
    if (fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, chunk_size_) != 0) {
      backed_[i].store(1, std::memory_order_release);
      c->state.store(static_cast<uint32_t>(ChunkState::kFree), std::memory_order_release);
    }
  }
}

uint64_t TraceFile::undrained_bytes() const {
  if (!header_) return 0;
  uint64_t bytes = 0;
  for (uint32_t i = 0; i < chunk_count_; ++i) {
    if (backed_[i].load(std::memory_order_acquire) != 1) continue;
    const ChunkHeader* c = chunk_at(i);
    if (c->state.load(std::memory_order_acquire) != static_cast<uint32_t>(ChunkState::kFree))
      bytes += c->used.load(std::memory_order_acquire);
  }
  return bytes;
}

void TraceFile::release_unused_tails(const ChunkHeader* own) {
  if (!header_ || given_up()) return;
  for (uint32_t i = 0; i < chunk_count_; ++i) {
    if (backed_[i].load(std::memory_order_acquire) != 1) continue;
    const ChunkHeader* c = chunk_at(i);
    if (c == own ||
        c->state.load(std::memory_order_acquire) == static_cast<uint32_t>(ChunkState::kSealed))
      release_tail(i);
  }
}

void TraceFile::release_own_tail(const ChunkHeader* own) {
  if (!header_ || given_up() || !own) return;
  const auto index = static_cast<uint32_t>(
      (reinterpret_cast<const uint8_t*>(own) - reinterpret_cast<const uint8_t*>(chunk_at(0))) /
      chunk_size_);
  if (index < chunk_count_ && backed_[index].load(std::memory_order_acquire) == 1)
    release_tail(index);
}

void TraceFile::release_tail(uint32_t index) {
  constexpr uint64_t kPage = 4096;
  const ChunkHeader* c = chunk_at(index);
  const uint64_t in_use = sizeof(ChunkHeader) + c->used.load(std::memory_order_acquire);
  const uint64_t keep = (in_use + kPage - 1) / kPage * kPage;
  const uint64_t backed = backed_bytes_[index].load(std::memory_order_relaxed);
  if (keep >= backed) return;
  // A chunk backed step by step has less than a step of blocks past its records: not worth a
  // hole punch (see backing_step_).
  if (backing_step_ < chunk_size_ && backed - keep < backing_step_) return;
  const off_t offset = static_cast<off_t>(format::kFileHeaderSize) +
                       static_cast<off_t>(index) * chunk_size_ + static_cast<off_t>(keep);
  // Reads as zeros afterwards; a later record there (this thread's, after the exit's
  // destructor) gets its page a block again when it is written.
  fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset,
            static_cast<off_t>(backed - keep));
}

void TraceFile::seal_chunk(ChunkHeader* chunk) {
  chunk->state.store(static_cast<uint32_t>(ChunkState::kSealed), std::memory_order_release);
  seal_events_.fetch_add(1, std::memory_order_release);
  futex_wake_all(seal_events_);
}

bool TraceFile::append_frame(const void* data, size_t size) {
  if (given_up()) return false;  // e.g. truncated by someone else: never write into it again
  const auto* p = static_cast<const uint8_t*>(data);
  size_t done = 0;
  while (done < size) {
    const ssize_t n = pwrite(fd_, p + done, size - done, static_cast<off_t>(data_end_ + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  data_end_ += size;
  std::atomic_ref<uint64_t>(header_->data_end).store(data_end_, std::memory_order_release);
  return true;
}

}  // namespace heapline::preload

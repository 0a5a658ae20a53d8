#include "drain_thread.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zstd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "../clock.h"
#include "../lifecycle.h"
#include "../options.h"
#include "../recorder.h"
#include "../thread_state.h"
#include "file_guard.h"
#include "record_writer.h"
#include "trace_file.h"

namespace heapline::preload {
namespace {

using format::put_varint;

struct DrainContext {
  int zstd_level;
  uint32_t rss_interval_ms;
  ZSTD_CCtx* cctx;
  uint8_t* out;  // FrameHeader + compressed bytes
  size_t out_capacity;
};

DrainContext g_ctx;
// Futex word: after each pass, the value of seal_events() the pass started from. A waiter that
// bumped seal_events() to V is served once this reaches V.
std::atomic<uint32_t> g_pass_done{0};


bool compress_chunk(const format::ChunkHeader& chunk, const uint8_t* data) {
  const uint32_t raw = chunk.used.load(std::memory_order_acquire);
  auto* header = reinterpret_cast<format::FrameHeader*>(g_ctx.out);
  const size_t n = ZSTD_compress2(g_ctx.cctx, g_ctx.out + sizeof *header,
                                  g_ctx.out_capacity - sizeof *header, data, raw);
  if (ZSTD_isError(n)) return false;
  *header = {};
  header->magic = format::kFrameMagic;
  header->tid = chunk.tid;
  header->seq = chunk.seq;
  header->base_time = chunk.base_time;
  header->raw_size = raw;
  header->compressed_size = static_cast<uint32_t>(n);
  header->header_checksum = format::frame_header_checksum(*header);
  return trace_file().append_frame(g_ctx.out, sizeof *header + n);
}

void record_rss(uint64_t time_ns) {
  // /proc/self/statm: "size resident shared ..." in pages. read(2), no stdio buffering.
  char buf[128];
  const int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  const ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return;
  buf[n] = '\0';
  unsigned long size_pages = 0, resident_pages = 0;
  if (sscanf(buf, "%lu %lu", &size_pages, &resident_pages) != 2) return;
  ThreadState& t = t_state;
  if (uint8_t* p = begin_record(t, format::RecordKind::kRss, time_ns, format::kMaxVarintSize)) {
    p = put_varint(p, resident_pages * static_cast<uint64_t>(sysconf(_SC_PAGESIZE)));
    commit_record(t, p, time_ns);
  }
}

// Thread names change rarely; remember a hash per tid and write only changes.
struct NameSeen {
  uint32_t tid;
  uint32_t hash;
};
NameSeen g_names[1024];

void record_thread_names(uint64_t time_ns) {
  DIR* dir = opendir("/proc/self/task");
  if (!dir) return;
  while (dirent* e = readdir(dir)) {
    const uint32_t tid = static_cast<uint32_t>(strtoul(e->d_name, nullptr, 10));
    if (tid == 0) continue;
    char path[64], name[32];
    snprintf(path, sizeof path, "/proc/self/task/%u/comm", tid);
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t n = read(fd, name, sizeof name - 1);
    close(fd);
    if (n <= 0) continue;
    if (name[n - 1] == '\n') --n;
    uint32_t h = 2166136261u;
    for (ssize_t i = 0; i < n; ++i) h = (h ^ static_cast<unsigned char>(name[i])) * 16777619u;
    NameSeen& slot = g_names[tid % 1024];
    if (slot.tid == tid && slot.hash == h) continue;
    ThreadState& t = t_state;
    if (uint8_t* p = begin_record(t, format::RecordKind::kThreadName, time_ns,
                                  2 * format::kMaxVarintSize + static_cast<size_t>(n))) {
      p = put_varint(p, tid);
      p = put_string(p, name, static_cast<size_t>(n));
      commit_record(t, p, time_ns);
      slot = {tid, h};  // only once written: a name dropped for want of a chunk is retried
    }
  }
  closedir(dir);
}

void* drain_main(void*) {
  t_state.in_hook = true;  // for good: nothing this thread does is the target's allocation
  // Its RSS and thread-name records are dropped rather than wait for a free chunk: only this
  // thread frees chunks, so waiting would stall it (30 s) whenever the ring is full of sealed
  // chunks, e.g. when the target fills it before the first pass.
  t_state.never_wait = true;
  t_state.tid = static_cast<uint32_t>(gettid());
  uint64_t next_rss = 0, next_names = 0;
  for (;;) {
    TraceFile& file = trace_file();
    const uint32_t seen = file.seal_events().load(std::memory_order_acquire);
    calibrate_trace_clock();
    const uint64_t now = trace_clock();
    if (g_ctx.rss_interval_ms && now >= next_rss) {
      record_rss(now);
      next_rss = now + ((g_ctx.rss_interval_ms * 1000000ull) >> format::kTimeShift);
    }
    if (now >= next_names) {
      record_thread_names(now);
      next_names = now + ((500 * 1000000ull) >> format::kTimeShift);
    }
    char why[1400];
    if (trace_file_damaged(why, sizeof why)) {
      disable_recording(why);
      return nullptr;
    }
    if (file.drain_sealed(compress_chunk) < 0) {
      if (trace_file_damaged(why, sizeof why)) {  // e.g. truncated while this pass compressed
        disable_recording(why);
      } else {
        file.give_up();
        disable_recording("cannot append to the trace file (disk full?); recording stopped");
      }
      return nullptr;
    }
    g_pass_done.store(seen, std::memory_order_release);
    futex_wake_all(g_pass_done);
    const long wait_ms = g_ctx.rss_interval_ms ? (g_ctx.rss_interval_ms < 20 ? g_ctx.rss_interval_ms : 20) : 20;
    futex_wait(file.seal_events(), seen, wait_ms);
  }
}

}  // namespace

bool start_drain_thread(const Options& options) {
  g_ctx.zstd_level = options.zstd_level;
  g_ctx.rss_interval_ms = options.rss_interval_ms;
  g_ctx.cctx = ZSTD_createCCtx();
  if (!g_ctx.cctx) return false;
  ZSTD_CCtx_setParameter(g_ctx.cctx, ZSTD_c_compressionLevel, g_ctx.zstd_level);
  ZSTD_CCtx_setParameter(g_ctx.cctx, ZSTD_c_checksumFlag, 1);
  g_ctx.out_capacity = sizeof(format::FrameHeader) + ZSTD_compressBound(options.chunk_size);
  void* out = mmap(nullptr, g_ctx.out_capacity, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (out == MAP_FAILED) return false;
  g_ctx.out = static_cast<uint8_t*>(out);

  sigset_t all, old;
  sigfillset(&all);
  // Except SIGBUS: the drain reads the mapped ring, and a fault there (trace truncated from
  // outside) must reach the file guard's handler; a blocked fault signal kills the process.
  sigdelset(&all, SIGBUS);
  pthread_sigmask(SIG_SETMASK, &all, &old);  // the new thread inherits "everything blocked"
  pthread_t thread;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  const bool ok = pthread_create(&thread, &attr, drain_main, nullptr) == 0;
  pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (ok) pthread_setname_np(thread, "heapline-drain");
  return ok;
}

void drain_now(long timeout_ms) {
  // Change the word the drain sleeps on, not only wake it: a wake that comes just before it
  // goes to sleep would be lost and cost a whole sleep interval.
  const uint32_t target = trace_file().seal_events().fetch_add(1, std::memory_order_acq_rel) + 1;
  futex_wake_all(trace_file().seal_events());
  const uint64_t deadline = monotonic_ns() + static_cast<uint64_t>(timeout_ms) * 1000000ull;
  for (;;) {
    const uint32_t done = g_pass_done.load(std::memory_order_acquire);
    if (static_cast<int32_t>(done - target) >= 0 || monotonic_ns() >= deadline) return;
    futex_wait(g_pass_done, done, 10);
  }
}

}  // namespace heapline::preload

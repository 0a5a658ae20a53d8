#include "drain_thread.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

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
#include "frame_encoder.h"
#include "record_writer.h"
#include "trace_file.h"

namespace heapline::preload {
namespace {

using format::put_varint;

struct DrainContext {
  uint32_t rss_interval_ms;
  FrameEncoder encoder;
};

// constinit: the recorder may start (and fill this) before the library's constructors run.
constinit DrainContext g_ctx{};
// Futex word: after each pass, the value of seal_events() the pass started from. A waiter that
// bumped seal_events() to V is served once this reaches V.
std::atomic<uint32_t> g_pass_done{0};

// defer_drain_thread's state: 0 started (or never deferred), 1 deferred, 2 being started.
std::atomic<int> g_deferred{0};
const Options* g_deferred_options = nullptr;
uint64_t g_deferred_due_tick = 0;


bool compress_chunk(const format::ChunkHeader& chunk, const uint8_t* data) {
  size_t size = 0;
  const uint8_t* frame = g_ctx.encoder.encode(chunk, data, &size);
  return frame && trace_file().append_frame(frame, size);
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
  set_phase(Phase::kInternal);  // for good: nothing this thread does is the target's allocation
  // Its RSS and thread-name records are dropped rather than wait for a free chunk: only this
  // thread frees chunks, so waiting would stall it (30 s) whenever the ring is full of sealed
  // chunks, e.g. when the target fills it before the first pass.
  t_state.never_wait = true;
  t_state.tid = static_cast<uint32_t>(gettid());
  uint64_t next_rss = 0, next_names = 0;
  const format::ChunkHeader* tail_released = nullptr;
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
    // This thread's own chunk fills at a few records a second, and an _exit or exec leaves it
    // undrained: it keeps disk blocks only for the pages written (later ones get theirs as
    // they are touched).
    if (t_state.chunk != tail_released) {
      file.release_own_tail(t_state.chunk);
      tail_released = t_state.chunk;
    }
    char why[1400];
    if (trace_file_damaged(why, sizeof why)) {
      disable_recording(why);
      return nullptr;
    }
    // At exit, the drain's own chunk (RSS samples, thread names) goes out with the rest.
    if (file.finishing()) release_thread_chunk(t_state);
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
  g_ctx.rss_interval_ms = options.rss_interval_ms;
  if (!g_ctx.encoder.start(options.zstd_level, options.chunk_size)) return false;

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

void defer_drain_thread(const Options& options, uint64_t due_tick) {
  g_ctx.rss_interval_ms = options.rss_interval_ms;
  g_deferred_options = &options;
  g_deferred_due_tick = due_tick;
  g_deferred.store(1, std::memory_order_release);
}

bool drain_thread_deferred() { return g_deferred.load(std::memory_order_acquire) != 0; }

void start_drain_thread_if_due(bool now) {
  if (__builtin_expect(g_deferred.load(std::memory_order_acquire) != 1, 1)) return;
  if (!now && trace_clock() < g_deferred_due_tick &&
      trace_file().seal_events().load(std::memory_order_acquire) == 0)
    return;
  int expected = 1;
  if (!g_deferred.compare_exchange_strong(expected, 2, std::memory_order_acq_rel)) return;
  bool ok;
  {
    // Called from a hook (a sample point): pthread_create's and zstd's allocations are ours.
    InternalPhase internal;
    ok = start_drain_thread(*g_deferred_options);
  }
  g_deferred.store(0, std::memory_order_release);
  if (!ok) disable_recording("cannot start the drain thread; recording stopped");
}

void record_process_samples_now() {
  const uint64_t now = trace_clock();
  if (g_ctx.rss_interval_ms) record_rss(now);
  record_thread_names(now);
}

void record_rss_at(uint64_t time_ns) {
  if (g_ctx.rss_interval_ms) record_rss(time_ns);
}

void reset_drain_after_fork() { g_pass_done.store(0, std::memory_order_release); }

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

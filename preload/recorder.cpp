#include "recorder.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "capture/rule_walk.h"
#include "capture/stack_capture.h"
#include "capture/stack_hash.h"
#include "clock.h"
#include "lifecycle.h"
#include "sampled_drain.h"
#include "sampler.h"
#include "thread_state.h"
#include "writer/drain_thread.h"
#include "writer/record_writer.h"
#include "writer/stack_interner.h"
#include "writer/trace_file.h"

namespace heapline::preload {

using format::put_varint;
using format::RecordKind;

extern uint32_t g_max_depth;  // lifecycle.cpp, from the options

namespace {

pthread_key_t g_thread_key;

// The exiting thread's name, in the place of the drain thread, which records every thread's
// name but in sampling mode may not have started yet (sampled_drain.h).
void record_own_thread_name(ThreadState& t) {
  char name[17] = {};
  if (prctl(PR_GET_NAME, name) != 0) return;
  const size_t n = strnlen(name, 16);
  const uint64_t now = trace_clock();
  if (uint8_t* p = begin_record(t, RecordKind::kThreadName, now, 2 * format::kMaxVarintSize + n)) {
    p = put_varint(p, t.tid);
    p = put_string(p, name, n);
    commit_record(t, p, now);
  }
}

void on_thread_exit(void*) {
  ThreadState& t = t_state;
  InternalPhase internal;
  if (g_sample_bytes && drain_thread_deferred()) record_own_thread_name(t);
  record_lost_counts();
  t.exiting = true;
  release_thread_chunk(t);
  release_thread_stack_cache();
}

// errno is part of the target's state: a successful malloc must not change it because of us.
class ErrnoKeeper {
 public:
  ErrnoKeeper() : saved_(errno) {}
  ~ErrnoKeeper() { errno = saved_; }

 private:
  int saved_;
};

}  // namespace


void init_thread_tracking() { pthread_key_create(&g_thread_key, on_thread_exit); }

__attribute__((noinline)) void register_new_thread(ThreadState& t) {
  t.key_set = true;
  // glibc allocates the second level of a thread's key table for keys past the first 32, and
  // the capture's preparation allocates too.
  InternalPhase internal;
  t.tid = static_cast<uint32_t>(gettid());
  pthread_setspecific(g_thread_key, reinterpret_cast<void*>(1));
  prepare_thread_for_capture();
}

void register_thread(ThreadState& t) {
  if (__builtin_expect(!t.key_set, 0)) register_new_thread(t);
}

namespace {

// Writes the stack's kStack record if the stack is new, then the kAlloc. False if a record was
// dropped for want of a chunk (counted as lost).
__attribute__((always_inline)) inline bool write_alloc(ThreadState& t, const void* p, size_t size,
                                                       format::AllocApi api,
                 const uint64_t* frames, size_t depth, uint64_t hash, uint64_t now) {
  const StackInterner::Result stack = stack_interner().intern(hash);
  if (stack.is_new) {
    uint8_t* q = begin_record(t, RecordKind::kStack, now, format::max_stack_record_size(depth));
    if (!q) {
      ++t.lost_allocs;
      return false;
    }
    q = put_varint(q, stack.id);
    q = put_varint(q, depth);
    uint64_t previous = 0;
    for (size_t i = 0; i < depth; ++i) {
      q = put_varint(q, i == 0 ? frames[0] : format::zigzag(static_cast<int64_t>(frames[i] - previous)));
      previous = frames[i];
    }
    commit_record(t, q, now);
  }
  uint8_t* q = begin_record(t, RecordKind::kAlloc, now, 4 * format::kMaxVarintSize + 1);
  if (!q) {
    ++t.lost_allocs;
    return false;
  }
  const auto address = reinterpret_cast<uint64_t>(p);
  *q++ = static_cast<uint8_t>(api);
  q = put_varint(q, size);
  q = put_varint(q, format::zigzag(static_cast<int64_t>(address - t.last_address)));
  q = put_varint(q, stack.id);
  t.last_address = address;
  commit_record(t, q, now);
  return true;
}

}  // namespace

void record_alloc(const void* p, size_t size, format::AllocApi api) {
  ErrnoKeeper keep_errno;
  ThreadState& t = t_state;
  register_thread(t);
  uint64_t frames[format::kMaxStackDepth];
  uint64_t hash;
  const size_t depth = capture_stack(here(), frames, g_max_depth, &hash);
  const uint64_t now = trace_clock();
  if (write_alloc(t, p, size, api, frames, depth, hash, now) && g_sample_bytes) {
    remember_sampled(p);
    record_rss_if_due(now);
  }
}

void record_alloc_with_stack(const void* p, size_t size, format::AllocApi api,
                             const uint64_t* frames, size_t depth, uint64_t time_ns) {
  ErrnoKeeper keep_errno;
  ThreadState& t = t_state;
  register_thread(t);
  write_alloc(t, p, size, api, frames, depth, stack_hash(frames, depth), time_ns);
}

void record_free(const void* p, format::AllocApi api, uint64_t time_ns) {
  ErrnoKeeper keep_errno;
  ThreadState& t = t_state;
  register_thread(t);
  uint8_t* q = begin_record(t, RecordKind::kFree, time_ns, 2 * format::kMaxVarintSize + 1);
  if (!q) {
    ++t.lost_frees;
    return;
  }
  const auto address = reinterpret_cast<uint64_t>(p);
  *q++ = static_cast<uint8_t>(api);
  q = put_varint(q, format::zigzag(static_cast<int64_t>(address - t.last_address)));
  t.last_address = address;
  commit_record(t, q, time_ns);
}

void record_free(const void* p, format::AllocApi api) { record_free(p, api, trace_clock()); }

void record_process_info(uint64_t time_ns) {
  ThreadState& t = t_state;
  register_thread(t);
  char exe[4096];
  ssize_t exe_len = readlink("/proc/self/exe", exe, sizeof exe);
  if (exe_len < 0) exe_len = 0;
  // argv as the kernel keeps it: NUL-separated, any bytes (newlines included) allowed.
  static char cmdline[16384];
  size_t cmd_len = 0;
  const int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t n;
    while (cmd_len < sizeof cmdline &&
           (n = read(fd, cmdline + cmd_len, sizeof cmdline - cmd_len)) > 0)
      cmd_len += static_cast<size_t>(n);
    close(fd);
  }
  size_t argc = 0;
  for (size_t i = 0; i < cmd_len; ++i) argc += cmdline[i] == '\0';
  const size_t max_body = 4 * format::kMaxVarintSize + static_cast<size_t>(exe_len) + cmd_len +
                          argc * format::kMaxVarintSize;
  uint8_t* p = begin_record(t, RecordKind::kProcess, time_ns, max_body);
  if (!p) return;
  p = put_varint(p, static_cast<uint64_t>(getpid()));
  p = put_varint(p, static_cast<uint64_t>(getppid()));
  p = put_string(p, exe, static_cast<size_t>(exe_len));
  p = put_varint(p, argc);
  for (size_t start = 0, i = 0; i < cmd_len; ++i) {
    if (cmdline[i] != '\0') continue;
    p = put_string(p, cmdline + start, i - start);
    start = i + 1;
  }
  commit_record(t, p, time_ns);
}

void record_exit(format::ExitKind kind, int status) {
  ThreadState& t = t_state;
  register_thread(t);
  record_lost_counts();
  const uint64_t now = trace_clock();
  if (uint8_t* p = begin_record(t, RecordKind::kExit, now, 1 + format::kMaxVarintSize)) {
    *p++ = static_cast<uint8_t>(kind);
    p = put_varint(p, format::zigzag(status));
    commit_record(t, p, now);
  }
}

void record_exec(const char* program, size_t length) {
  ThreadState& t = t_state;
  register_thread(t);
  record_lost_counts();
  const uint64_t now = trace_clock();
  if (uint8_t* p = begin_record(t, RecordKind::kExec, now, format::kMaxVarintSize + length)) {
    p = put_string(p, program, length);
    commit_record(t, p, now);
  }
}

void record_fork(int child_pid) {
  ThreadState& t = t_state;
  const uint64_t now = trace_clock();
  if (uint8_t* p = begin_record(t, RecordKind::kFork, now, format::kMaxVarintSize)) {
    p = put_varint(p, static_cast<uint64_t>(child_pid));
    commit_record(t, p, now);
  }
}

void record_lost_counts() {
  ThreadState& t = t_state;
  if (!t.lost_allocs && !t.lost_frees) return;
  const uint64_t now = trace_clock();
  if (uint8_t* p = begin_record(t, RecordKind::kLost, now, 2 * format::kMaxVarintSize)) {
    p = put_varint(p, t.lost_allocs);
    p = put_varint(p, t.lost_frees);
    commit_record(t, p, now);
    t.lost_allocs = t.lost_frees = 0;
  }
}

}  // namespace heapline::preload

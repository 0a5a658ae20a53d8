#include "lifecycle.h"

#include <dlfcn.h>
#include <pthread.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "capture/module_map.h"
#include "capture/stack_capture.h"
#include "fork_gate.h"
#include "loader_walks.h"
#include "log.h"
#include "options.h"
#include "real_functions.h"
#include "recorder.h"
#include "sampled_drain.h"
#include "sampler.h"
#include "signal_queue.h"
#include "writer/drain_thread.h"
#include "writer/record_writer.h"
#include "writer/stack_interner.h"
#include "writer/trace_file.h"

namespace heapline::preload {

constinit thread_local ThreadState t_state __attribute__((tls_model("initial-exec"))) = {};
std::atomic<State> g_state{State::kUninitialized};
uint32_t g_max_depth = 64;

bool is_the_traced_process();

namespace {

Options g_options;
constexpr size_t kMaxExecPath = 4096;  // the longest kExec path readers accept (trace-format.md)

void exe_basename(char* out, size_t size) {
  char path[4096];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  path[n > 0 ? n : 0] = '\0';
  const char* slash = strrchr(path, '/');
  const char* name = slash ? slash + 1 : (n > 0 ? path : "unknown");
  memcpy(out, name, std::min(strlen(name), size - 1));
  out[std::min(strlen(name), size - 1)] = 0;
}

// Opens a trace for this process and writes what every trace starts with. Returns false (and
// has said why on stderr) if there is no trace to write to.
bool start_trace() {
  char exe[256], why[1400];
  exe_basename(exe, sizeof exe);
  if (!trace_file().create(g_options, getpid(), getppid(), exe, why, sizeof why)) {
    log_error("%s; the program runs on without heapline", why);
    return false;
  }
  start_trace_clock(trace_file().start_monotonic_ns());
  const uint64_t now = trace_clock();
  record_process_info(now);
  record_module_changes(now, /*forget_known=*/true);
  if (g_options.sample_bytes) {
    defer_drain_for_sampling(g_options, now);
  } else if (!start_drain_thread(g_options)) {
    log_error("cannot start the drain thread; the program runs on without heapline");
    return false;
  }
  return true;
}

// Drains what was recorded into frames and gives the ring's disk blocks back, so that the trace
// on disk is its frames and its header's page, not the chunks last in use.
void finish_trace() {
  InternalPhase internal;
  if (g_sample_bytes) {
    // A run too short for the drain thread to have started still gets its RSS and names.
    if (drain_thread_deferred()) record_process_samples_now();
    if (trace_file().undrained_bytes() <= kSampledRawTailBytes) {
      // Sampling mode leaves a few bytes per sample point in the ring: not worth a drain pass
      // at exit (setting up the zstd streams alone is milliseconds of CPU, most of what a short
      // sampled run costs). They stay in the ring, which the reader reads as after a SIGKILL.
      trace_file().release_drained_chunks();
      trace_file().release_unused_tails(t_state.chunk);
      return;
    }
    start_drain_thread_if_due(/*now=*/true);
  }
  trace_file().set_finishing();
  release_thread_chunk(t_state);
  drain_now(200);
  trace_file().release_drained_chunks();
}

// exit()'s last handler but one: registered from our constructor, before __libc_start_main
// registers the loader's, so it runs after the ELF destructors (which free memory too) and
// before libc's stdio teardown. The exit record and everything before it go into frames here;
// only a record written later by another thread stays in the ring.
void on_process_exit(int status, void*) {
  record_process_exit(format::ExitKind::kExit, status);
  if (g_state.load() == State::kEnabled && is_the_traced_process()) finish_trace();
}

// The forking thread's phase before fork: fork may be called from a signal handler that
// interrupted a hook, whose phase the handlers after fork give back.
thread_local Phase t_phase_before_fork __attribute__((tls_model("initial-exec")));

// The gate first: a thread inside the recorder may need a loader walk to finish its unwind.
void before_fork() {
  t_phase_before_fork = t_state.phase;
  set_phase(Phase::kInternal);
  close_fork_gate();
  hold_loader_walks_for_fork();
}
void after_fork_in_parent() {
  release_loader_walks_after_fork(/*in_child=*/false);
  open_fork_gate(/*in_child=*/false);
  set_phase(t_phase_before_fork);
}

void after_fork_in_child() {
  release_loader_walks_after_fork(/*in_child=*/true);
  open_fork_gate(/*in_child=*/true);
  ThreadState& t = t_state;
  // The child is single-threaded; the parent's chunks, ids and file are the parent's business.
  t.chunk = nullptr;
  t.write_ptr = t.limit = nullptr;
  t.tid = static_cast<uint32_t>(gettid());
  t.lost_allocs = t.lost_frees = 0;
  reset_signal_queue_after_fork();
  if (g_state.load() == State::kEnabled) {
    trace_file().abandon_after_fork();
    reset_drain_after_fork();
    stack_interner().reset_after_fork();
    reset_sampler_after_fork();
    if (!start_trace()) g_state.store(State::kDisabled);
  }
  set_phase(t_phase_before_fork);
}

}  // namespace

void disable_recording(const char* why) {
  State expected = State::kEnabled;
  if (g_state.compare_exchange_strong(expected, State::kDisabled)) log_error("%s", why);
}

// False in a child made by vfork (or clone with CLONE_VM) until it execs: it runs on its parent's
// memory, recorder state included, and what it does is not the parent's.
bool is_the_traced_process() { return getpid() == trace_file().pid(); }

void record_process_exit(format::ExitKind kind, int status) {
  if (!is_the_traced_process()) return;  // e.g. a vfork child's _exit(127) after a failed exec
  HookScope scope;
  if (scope.may_record()) {
    RecorderPhase phase;
    record_exit(kind, status);
    // _exit and abort skip the destructor that drains the ring and gives its blocks back: at
    // least this thread's chunk keeps only the pages its records are on.
    if (kind != format::ExitKind::kExit) trace_file().release_own_tail(t_state.chunk);
  }
}

bool record_exec_attempt(const char* program) {
  // Checked before the guard is taken: a vfork child's exec never returns to restore it, and the
  // guard it would leave raised is its parent's.
  if (!is_the_traced_process()) return false;
  HookScope scope;
  if (!scope.may_record()) return false;
  // A signal handler's allocation now is not recorded: nothing may follow the sealed chunk.
  InternalPhase internal;
  record_exec(program, strnlen(program, kMaxExecPath));
  // The drain need not run first: the ring lives in the file (MAP_SHARED), so this sealed chunk,
  // and the chunks other threads still own, are read from there as at any other end. Its blocks
  // past the records go back first (a chunk is 128 KiB on disk once backed).
  trace_file().release_own_tail(t_state.chunk);
  release_thread_chunk(t_state);
  return true;
}

void record_exec_failed() {
  HookScope scope;
  if (scope.may_record()) {
    RecorderPhase phase;
    record_exec("", 0);
  }
}

void ensure_initialized() {
  State expected = State::kUninitialized;
  if (!g_state.compare_exchange_strong(expected, State::kInitializing)) return;
  InternalPhase internal;
  resolve_real_functions();
  g_options = read_options();
  g_max_depth = g_options.max_depth;
  init_sampler(g_options.sample_bytes, g_options.sample_seed);
  init_stack_capture(g_options.frame_pointers   ? UnwindMethod::kFramePointer
                     : g_options.libunwind_only ? UnwindMethod::kLibunwind
                                                : UnwindMethod::kDwarf);
  init_thread_tracking();
  pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child);
  const bool ok = start_trace();
  if (ok) on_exit(on_process_exit, nullptr);
  g_state.store(ok ? State::kEnabled : State::kDisabled, std::memory_order_release);
}

// Runs before main, if no allocation has started the recorder already (see HookScope).
__attribute__((constructor)) void heapline_start() { ensure_initialized(); }

// ELF destructors of preloaded objects run late in exit, after the program's static
// destructors; recording goes on after this (libraries finalized after us still free memory,
// and on_process_exit drains the ring after them).
__attribute__((destructor)) void heapline_finish() {
  if (g_state.load() != State::kEnabled) return;
  // libstdc++ keeps an emergency exception pool for the whole run and frees it only on request;
  // valgrind and heaptrack request it at exit too, so that it is not reported as a leak. Its
  // free is recorded like any other.
  using FreeresFn = void (*)();
  if (auto freeres = reinterpret_cast<FreeresFn>(dlsym(RTLD_DEFAULT, "_ZN9__gnu_cxx9__freeresEv")))
    freeres();
}

}  // namespace heapline::preload

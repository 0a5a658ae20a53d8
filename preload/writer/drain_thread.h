// The recorder's one background thread. It
//  - compresses sealed ring chunks (zstd) and appends them to the trace as frames,
//  - samples the process's RSS (like mprof) and threads' names.
// It starts with every signal blocked and with its hook guard raised for good, so nothing it
// does (zstd's own allocations, opendir) is recorded. It is never joined: at exit it may be cut
// off mid-frame, which the format tolerates (the chunk stays in the ring until its frame is whole).
#pragma once

#include <cstdint>

namespace heapline::preload {

struct Options;

// Starts the thread (again, in a forked child). Returns false if it could not be created; the
// ring then fills and recording stops, which the caller reports.
bool start_drain_thread(const Options& options);
// Sampling mode: the thread is started only once it has work. A short sampled run leaves a few
// records in the ring and needs no compression; a thread started for nothing costs it little
// CPU but, on a busy machine, milliseconds of wall time (it has to be scheduled to start, and
// again to die at exit). It starts at the first sample point (any thread's) after `due_tick`
// or after a chunk was sealed, whichever comes first (or at once with `now`).
void defer_drain_thread(const Options& options, uint64_t due_tick);
void start_drain_thread_if_due(bool now = false);
// True while the thread is deferred and not started.
bool drain_thread_deferred();
// What the drain thread records periodically, for an exit that comes before it started: one RSS
// sample and the threads' names, into the calling thread's chunk.
void record_process_samples_now();
// One RSS sample into the calling thread's chunk (if RSS samples are on), dated `time_ns` (trace
// ticks): sampling mode's sample points take them in the deferred thread's place.
void record_rss_at(uint64_t time_ns);
// Asks for one more pass now and waits for it up to `timeout_ms` (used at exit so that the
// trace on disk is compact; correctness never depends on it).
void drain_now(long timeout_ms);
// In a forked child, before its trace starts: the count of finished passes is the parent's, and
// the child's seal events start again from 0, so drain_now would find its pass long done and
// not wait (a third of the children of a busy parent left their last records in the ring).
void reset_drain_after_fork();

}  // namespace heapline::preload

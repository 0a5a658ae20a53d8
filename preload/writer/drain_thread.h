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
// Asks for one more pass now and waits for it up to `timeout_ms` (used at exit so that the
// trace on disk is compact; correctness never depends on it).
void drain_now(long timeout_ms);

}  // namespace heapline::preload

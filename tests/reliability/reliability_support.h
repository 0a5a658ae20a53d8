// Shared by the reliability tests: a light tally of a trace (per allocation size, so that traces
// of millions of events fit in a few maps), and the check that a traced run is indistinguishable
// from an untraced one.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "source_text.h"
#include "heapline/trace_format.h"
#include "reader/trace_reader.h"
#include "traced_process.h"

namespace heapline::reliability {

struct SizeTally {
  uint64_t allocations = 0;
  uint64_t frees = 0;  // frees of blocks of this size recorded in the trace
  uint64_t live = 0;   // allocated and never freed
  std::set<uint32_t> threads;
  std::set<uint32_t> freeing_threads;
  // Allocations whose stack is one frame: a signal handler's made while the recorder was busy on
  // its thread (queued; preload/signal_queue.h). No other allocation has so short a stack.
  uint64_t one_frame = 0;
  std::set<uint64_t> innermost_frames;  // of the allocations' stacks
};

struct TraceTally {
  std::string path;
  format::FileHeader header{};
  bool truncated = false;
  size_t ring_chunks = 0;  // chunks read from the ring: not drained when the process ended
  std::map<uint64_t, SizeTally> sizes;
  uint64_t allocations = 0, frees = 0, records = 0;
  uint64_t unmatched_frees = 0;        // free of an address no recorded allocation holds
  uint64_t allocs_at_live_address = 0;  // allocation of an address still live: an ordering bug
  uint64_t lost_allocations = 0, lost_frees = 0;
  uint64_t one_frame_allocations = 0;  // all sizes (see SizeTally::one_frame)
  std::vector<std::string> modules;  // paths of every module loaded, in order
  std::string exe;
  std::vector<std::string> argv;
  uint32_t process_pid = 0, process_ppid = 0;
  std::vector<format::ExitKind> exits;
  std::vector<int64_t> exit_statuses;
  std::vector<std::string> execs;  // kExec programs in order ("" = the exec before failed)

  // Allocations (and frees) of the given size, 0 when none.
  uint64_t allocs_of(uint64_t size) const;
  uint64_t frees_of(uint64_t size) const;
  bool ended_by_exit(int status) const;
  // Ended by one successful exec of `program` (and no exit record).
  bool ended_by_exec(const std::string& program) const;
};

// Replays the whole trace (throws analysis::TraceError when it is unreadable).
TraceTally tally_trace(const std::string& path);

using e2e::lines_of;  // tests/support/source_text.h
// The recorder's own lines on stderr ("heapline[pid]: ...").
std::vector<std::string> heapline_lines(const std::string& err);
// stderr without the recorder's lines.
std::string without_heapline_lines(const std::string& err);

// Runs `program args` untraced and traced (traces into `dir`), and checks (with gtest) that
// stdout and exit status are the same and that the recorder printed nothing on stderr.
// `stderr_too`: the program's stderr must be identical as well. Returns the traced run.
e2e::RunResult expect_same_behaviour(const e2e::TempDir& dir, const std::string& program,
                                     const std::vector<std::string>& args,
                                     const e2e::RunOptions& options = {}, bool stderr_too = true);

// The basename of a path.
std::string base_name(const std::string& path);

}  // namespace heapline::reliability

// Several traces of one process tree (a program that forks, execs, spawns helpers, runs a
// compiler's driver and its passes): one summary per process, ordered as the tree they formed.
//
// A summary comes from the allocation model alone, without symbolization, so that a tree of
// hundreds of processes (a build) is summarized quickly; the full per-process Report is
// analyze_trace()'s job. The tree is rebuilt from the trace headers: a process's parent is the
// latest-started trace whose pid is its ppid and that started before it. An exec keeps the pid
// and ppid, so the images of one pid appear one after the other at the same depth.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "model/allocation_model.h"
#include "reader/trace_reader.h"

namespace heapline::analysis {

struct ProcessSummary {
  TraceInfo trace;  // path, header (pid, ppid, start time), truncation
  ProcessFacts process;
  Summary summary;
  bool complete = false;  // as Report::complete: ended by exit or exec, and the trace is whole
  size_t depth = 0;       // 0 for a process whose parent has no trace here
};

// The trace files named by `paths`: files as given, directories replaced by the "*.trace"
// files directly inside them (sorted by name). Throws TraceError for a path that does not exist.
std::vector<std::string> find_trace_files(const std::vector<std::string>& paths);

// Reads one trace into a summary. Throws TraceError on unreadable input.
ProcessSummary summarize_process(const std::string& path);

// Orders summaries parents first (depth-first, siblings by start time) and sets their depth.
void order_as_tree(std::vector<ProcessSummary>& processes);

struct TreeTotals {
  size_t processes = 0;
  size_t incomplete = 0;
  uint64_t allocations = 0;
  uint64_t frees = 0;
  uint64_t bytes_allocated = 0;
  uint64_t leaked_bytes = 0;
  uint64_t leaked_blocks = 0;
  uint64_t lost_allocations = 0;
  uint64_t lost_frees = 0;
};
TreeTotals tree_totals(const std::vector<ProcessSummary>& processes);

}  // namespace heapline::analysis

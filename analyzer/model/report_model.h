// What the reports show, computed once from the model: summary, leak groups with symbolized
// stacks, and per-source-line figures. Reports (text, JSON) only read this.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/allocation_model.h"
#include "model/stack_symbolizer.h"
#include "reader/trace_reader.h"

namespace heapline::analysis {

struct LeakGroup {
  uint64_t bytes = 0;
  uint64_t blocks = 0;
  SourceLocation site;
  std::vector<ResolvedFrame> stack;
};

struct LineFigures {
  SourceLocation where;
  uint64_t allocations = 0;
  uint64_t bytes_allocated = 0;
  uint64_t peak_bytes = 0;  // live bytes from this line at the global peak
  uint64_t leaked_bytes = 0;
  uint64_t leaked_blocks = 0;
  uint64_t temporary = 0;
};

struct Report {
  TraceInfo trace;
  Summary summary;
  ProcessFacts process;
  bool complete = false;  // ended by return from main / exit() or by exec, the trace whole
  std::vector<LeakGroup> leaks;     // largest first
  std::shared_ptr<const FramePool> frame_pool;  // what the leaks' frames point to
  std::vector<LineFigures> lines;   // by peak bytes, then bytes allocated
  std::vector<std::string> warnings;
};

// Reads and analyzes a trace: the whole pipeline behind `report` and `leaks`.
// Throws TraceError on unreadable input.
struct AnalysisOptions {
  SiteRules site_rules;
  // false: no leak groups (Report::leaks stays empty), for a report that does not show them
  // (the text report lists leaked bytes by line only). Symbolizing every frame of every leaked
  // stack was most of a text report on a big program (cc1plus: 46 000 leaked blocks). The
  // modules those stacks pass through are still opened, in the same order, so the warnings
  // about them are the same.
  bool leak_groups = true;
  // true: the trace's reader, model and symbolizer are not destroyed but left to the process's
  // exit, which comes right after the report (the CLI's report of one trace). Their destructors
  // (thousands of frees, libdw's teardown, unmapping the tables) took ~4 ms of a ~90 ms python3
  // report (medians of 21 paired runs), and the kernel takes the memory back at exit anyway:
  // clang's -disable-free does the same.
  bool leave_to_exit = false;
};
// What every analysis tells the user besides its figures: the symbolizer's warnings, the
// reader's notes on the file, and that figures are estimates when the trace was sampled.
std::vector<std::string> analysis_warnings(const Symbolizer& symbolizer, const TraceInfo& trace,
                                           uint64_t sample_bytes);

Report analyze_trace(const std::string& path, const AnalysisOptions& options);
// Before `model` reads a trace for a report: starts loading, in the background while the trace
// is read, the debug info the report is all but sure to need: the executable's (the first module
// record; main() and most allocation sites are there) and libc's, which every leak group's stack
// shows (the root frames of every thread's stack, __libc_start_call_main or start_thread, are
// libc's). libc's separate debug file is the most costly to open (compressed DWARF: ~10 MB to
// inflate). Without `whole_stacks` (a report without leak groups: only sites, which are never
// in libc but for a stack made of runtime frames alone) libc is not prefetched: its DWARF would
// be read for nothing on a core the reader needs.
void prefetch_report_debug_info(AllocationModel& model, Symbolizer& symbolizer,
                                bool whole_stacks = true);
// The same from a model already read, so that a command needing more than the Report (`leaks`:
// growth too) reads the trace and opens debug info once. The report's warnings are the
// symbolizer's so far.
Report build_report(const TraceInfo& trace, const AllocationModel& model, Symbolizer& symbolizer,
                    const AnalysisOptions& options);

}  // namespace heapline::analysis

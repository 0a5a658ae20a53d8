// Per-source-line memory, memory_profiler style, in two attributions:
//   self       the line is the allocation site (StackSymbolizer::site_index) of the stack;
//   inclusive  the line is the site or any caller of it, so `x = build();` carries everything
//              build() allocated. A line met twice in one stack (recursion) counts once for it.
// Frames inside the allocator/runtime (inward of the site) are not lines of the program and are
// left out of both; callers outward of the site all count (main, and libc's start-up code, carry
// everything). Frames without debug info have no line: their entry is the function (line 0).
// Figures per stack come from the model (totals, live at the peak and at the end) and from
// per-stack live bytes at the two ends of the increment's window.
#pragma once

#include <cstdint>
#include <vector>

#include "model/report_model.h"

namespace heapline::analysis {

struct LineCost {
  uint64_t allocations = 0;
  uint64_t bytes_allocated = 0;
  uint64_t live_end_bytes = 0;   // live when the trace ended
  uint64_t live_peak_bytes = 0;  // live at the moment of the global heap peak
  int64_t increment_bytes = 0;   // live at the window's end minus live at its start

  bool empty() const {
    return allocations == 0 && live_end_bytes == 0 && live_peak_bytes == 0 && increment_bytes == 0;
  }
};

struct LineEntry {
  SourceLocation where;
  LineCost self;
  LineCost inclusive;
};

// Live bytes of every stack (by stack id; missing ids = 0) at the two ends of the window.
struct WindowLive {
  const std::vector<uint64_t>* from = nullptr;  // null: nothing live (the start of the run)
  const std::vector<uint64_t>* to = nullptr;
};

// Every line that appears in a stack which allocated, sorted by file, then line.
std::vector<LineEntry> build_line_table(const AllocationModel& model, StackSymbolizer& stacks,
                                        const WindowLive& window);

}  // namespace heapline::analysis

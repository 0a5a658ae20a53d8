// The pipeline behind `heapline lines`: the model's pass over the trace, then, only when the
// increment's window has an end given in seconds, a second pass (LiveReplay + StackSnapshots)
// for the live bytes of every stack at those moments. `peak` and `end` need no second pass: the
// model already knows every stack's live bytes at the peak and at the end.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/line_table.h"
#include "model/report_model.h"

namespace heapline::analysis {

// One end of the increment's window: `start`, `end`, `peak` or seconds since the start.
struct WindowEnd {
  enum class Kind { kStart, kSeconds, kPeak, kEnd };
  Kind kind = Kind::kStart;
  double seconds = 0;
};
// Parses "start", "end", "peak" or a number of seconds (>= 0); nullopt otherwise.
std::optional<WindowEnd> parse_window_end(const std::string& text);

struct LineAnalysisOptions {
  SiteRules site_rules;
  WindowEnd from{WindowEnd::Kind::kStart, 0};
  WindowEnd to{WindowEnd::Kind::kEnd, 0};
};

struct LineAnalysis {
  TraceInfo trace;
  Summary summary;
  ProcessFacts process;
  uint64_t from_ns = 0;  // the window, resolved to times since the start
  uint64_t to_ns = 0;
  std::string from_label, to_label;  // "start", "peak (1.234 s)", "0.500 s", ...
  std::vector<LineEntry> lines;      // by file, then line
  std::vector<std::string> warnings;
};

// Throws TraceError on unreadable input, std::invalid_argument when the window ends before it
// starts.
LineAnalysis analyze_lines(const std::string& path, const LineAnalysisOptions& options);

}  // namespace heapline::analysis

// `heapline lines` output: memory_profiler-style listings (source next to per-line figures) and
// the JSON contract, a list of {"file", "line", "function", "self": {...}, "inclusive": {...}}.
#pragma once

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/line_analysis.h"
#include "model/line_selection.h"

namespace heapline::analysis {

struct LineListing {
  enum class Kind { kFunction, kFile, kTop };
  Kind kind = Kind::kTop;
  std::string name;  // function name or file path
  size_t top = 20;
  Attribution attribution = Attribution::kInclusive;
  bool rank_by_increment = false;  // --top: by growth over the window instead of live at peak
};

// Prints the listing; returns false (after saying so) when nothing matched.
bool print_line_listing(const LineAnalysis& analysis, const LineListing& listing, FILE* out);

// The selected lines, both attributions each. Fields may be added, never renamed.
nlohmann::ordered_json lines_to_json(const LineAnalysis& analysis, const LineListing& listing);

}  // namespace heapline::analysis

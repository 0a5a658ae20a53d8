// Which lines of a LineAnalysis a `heapline lines` listing shows: those of a function (by name),
// of a source file (by path or path suffix), or the N heaviest of the program. Reports print the
// selection; they do not choose.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/line_table.h"

namespace heapline::analysis {

enum class Attribution { kSelf, kInclusive };

const LineCost& cost_of(const LineEntry& entry, Attribution attribution);

// True when `function` (as symbolized, e.g. "ns::Cache::put(int)") is what the user meant by
// `name`: the same, the same without parameters, or its last `::` components.
bool function_matches(const std::string& function, const std::string& name);
// True when `file` is `path`, or ends with "/" + `path`.
bool file_matches(const std::string& file, const std::string& path);

// The lines of one function in one file, by line number.
struct FunctionLines {
  std::string function;
  std::string file;
  std::vector<const LineEntry*> lines;
};
std::vector<FunctionLines> select_function(const std::vector<LineEntry>& lines,
                                           const std::string& name);

// The lines of every file matching `path`, by file, then line.
std::vector<const LineEntry*> select_file(const std::vector<LineEntry>& lines,
                                          const std::string& path);

// The `count` heaviest lines under `attribution`: by live bytes at the peak (or, `by_increment`,
// by growth over the window), then bytes allocated, then allocations; lines with nothing under
// that attribution are left out.
std::vector<const LineEntry*> select_top(const std::vector<LineEntry>& lines, size_t count,
                                         Attribution attribution, bool by_increment = false);

}  // namespace heapline::analysis

// `heapline report` over several traces (a directory, or several files): one line per process
// in tree order, then the totals; or, with --json, every process's full report.
#pragma once

#include <cstdio>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/process_tree.h"
#include "model/report_model.h"

namespace heapline::analysis {

void print_text_tree(const std::vector<ProcessSummary>& processes, FILE* out);

// {"processes": [report_to_json(...) ...], "totals": {...}}; `reports` in tree order.
nlohmann::ordered_json tree_to_json(const std::vector<Report>& reports,
                                    const std::vector<ProcessSummary>& processes);

}  // namespace heapline::analysis

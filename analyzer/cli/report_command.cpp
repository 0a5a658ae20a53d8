// `heapline report TRACE... [--json] [--top N] [--skip REGEX]...`: for one trace, summary, top
// sites by peak, by leaked bytes and by allocation count. For several traces (or a directory of
// them: a process tree), one line per process in tree order plus totals; with --json, every
// process's full report under "processes".
#include <cstdio>

#include "commands.h"
#include "model/process_tree.h"
#include "reader/trace_error.h"
#include "reports/json_report.h"
#include "reports/text_report.h"
#include "reports/tree_report.h"

namespace heapline::cli {
namespace {

using namespace heapline::analysis;

int report_tree(const std::vector<std::string>& paths, const ReportOptions& options,
                const AnalysisOptions& analysis) {
  // A trace that cannot be read does not hide the others: it is named on stderr, the rest is
  // reported, and the exit status says the input was not all good.
  int status = 0;
  std::vector<ProcessSummary> processes;
  for (const std::string& path : paths) {
    try {
      processes.push_back(summarize_process(path));
    } catch (const TraceError& e) {
      fprintf(stderr, "heapline report: %s\n", e.what());
      status = 2;
    }
  }
  order_as_tree(processes);
  if (options.json) {
    std::vector<Report> reports;
    for (const ProcessSummary& p : processes) reports.push_back(analyze_trace(p.trace.path, analysis));
    printf("%s\n", tree_to_json(reports, processes).dump(2).c_str());
  } else {
    print_text_tree(processes, stdout);
  }
  return status;
}

}  // namespace

int report_command(const ReportOptions& options) {
  try {
    AnalysisOptions analysis;
    analysis.site_rules.skip_patterns = options.skip;
    const std::vector<std::string> paths = find_trace_files(options.traces);
    if (paths.empty()) {
      fprintf(stderr, "heapline report: no trace files (*.trace) in %s\n",
              options.traces.empty() ? "" : options.traces.front().c_str());
      return 2;
    }
    if (paths.size() > 1) return report_tree(paths, options, analysis);
    analysis.leak_groups = options.json;  // the text report shows leaked bytes by line only
    analysis.leave_to_exit = true;        // the process ends once the report is printed
    const Report report = analyze_trace(paths.front(), analysis);
    if (options.json) {
      print_report_json(report, stdout);
    } else {
      print_text_report(report, options.top, stdout);
    }
    return 0;
  } catch (const TraceError& e) {
    fprintf(stderr, "heapline report: %s\n", e.what());
    return 2;
  } catch (const std::regex_error& e) {
    fprintf(stderr, "heapline report: bad --skip pattern: %s\n", e.what());
    return 2;
  }
}

}  // namespace heapline::cli

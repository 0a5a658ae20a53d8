// `heapline report TRACE [--json] [--top N] [--skip REGEX]...`: summary, top sites by peak, by
// leaked bytes and by allocation count.
#include <cstdio>

#include "commands.h"
#include "reader/trace_error.h"
#include "reports/json_report.h"
#include "reports/text_report.h"

namespace heapline::cli {

int report_command(const ReportOptions& options) {
  using namespace heapline::analysis;
  try {
    AnalysisOptions analysis;
    analysis.site_rules.skip_patterns = options.skip;
    const Report report = analyze_trace(options.trace, analysis);
    if (options.json) {
      printf("%s\n", report_to_json(report).dump(2).c_str());
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

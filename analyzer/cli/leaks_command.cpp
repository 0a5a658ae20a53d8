// `heapline leaks TRACE [--json] [--fail-on-leak[=BYTES]]`: every leak group with its full
// symbolized stack, largest first, then the sites whose live memory kept growing during the run
// ("growing", see model/growth_detector.h), which a program that frees everything at exit still
// shows. With --fail-on-leak the exit status is 1 when the leaked bytes exceed BYTES (default
// 0), so CI can gate on it.
#include <cinttypes>
#include <cstdio>

#include "commands.h"
#include "model/timeline_analysis.h"
#include "reader/trace_error.h"
#include "reports/growth_report.h"
#include "reports/json_report.h"
#include "reports/text_report.h"

namespace heapline::cli {

int leaks_command(const LeaksOptions& options) {
  using namespace heapline::analysis;
  try {
    AnalysisOptions analysis;
    analysis.site_rules.skip_patterns = options.skip;
    // One model pass and one symbolizer serve both the leaks and the growth suspects; only
    // the growth replay reads the trace a second time.
    TraceReader reader(options.trace);
    AllocationModel model;
    Symbolizer symbolizer;
    prefetch_report_debug_info(model, symbolizer);
    model.read_all(reader);
    const Report report = build_report(reader.info(), model, symbolizer, analysis);
    TimelineOptions growth;
    growth.site_rules = analysis.site_rules;
    growth.timeline = false;
    const std::vector<GrowingSite> growing =
        analyze_timeline(reader, model, symbolizer, growth).growing;
    if (options.json) {
      ReportJsonTail tail;
      tail.without_lines = true;
      tail.extra.emplace_back("growing", growing_to_json(growing));
      print_report_json(report, stdout, tail);
    } else {
      print_text_leaks(report, stdout);
      print_text_growing(growing, stdout);
    }
    fflush(stdout);
    if (options.fail_on_leak && report.summary.leaked_bytes > *options.fail_on_leak) {
      fprintf(stderr, "heapline leaks: %" PRIu64 " bytes leaked (limit %" PRIu64 ")\n",
              report.summary.leaked_bytes, *options.fail_on_leak);
      return 1;
    }
    return 0;
  } catch (const TraceError& e) {
    fprintf(stderr, "heapline leaks: %s\n", e.what());
    return 2;
  } catch (const std::regex_error& e) {
    fprintf(stderr, "heapline leaks: bad --skip pattern: %s\n", e.what());
    return 2;
  }
}

}  // namespace heapline::cli

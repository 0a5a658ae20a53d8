// `heapline lines TRACE --function NAME | --file PATH | --top N [--from T] [--to T]
// [--self | --inclusive] [--json]`: per-line memory, memory_profiler style. The source of the
// function or file is printed with, beside each line, its allocations, bytes allocated, live
// bytes at the peak and at the end, and the increment (live growth over the window [from, to];
// T = seconds since the start, "start", "peak" or "end"). Inclusive attribution is the default
// for --function and --file (as in memory_profiler), self for --top (allocation sites). --top
// ranks by live bytes at the peak, or by the increment when a window is given.
#include <cstdio>
#include <stdexcept>

#include "commands.h"
#include "model/line_analysis.h"
#include "reader/trace_error.h"
#include "reports/line_report.h"

namespace heapline::cli {

int lines_command(const LinesOptions& options) {
  using namespace heapline::analysis;
  LineListing listing;
  if (!options.function.empty()) {
    listing.kind = LineListing::Kind::kFunction;
    listing.name = options.function;
  } else if (!options.file.empty()) {
    listing.kind = LineListing::Kind::kFile;
    listing.name = options.file;
  } else {
    listing.kind = LineListing::Kind::kTop;
    listing.top = options.top.value_or(20);
  }
  listing.attribution =
      listing.kind == LineListing::Kind::kTop ? Attribution::kSelf : Attribution::kInclusive;
  if (options.self) listing.attribution = Attribution::kSelf;
  if (options.inclusive) listing.attribution = Attribution::kInclusive;
  // Asking for a window means asking what grew in it.
  listing.rank_by_increment = options.from != "start" || options.to != "end";

  LineAnalysisOptions analysis;
  analysis.site_rules.skip_patterns = options.skip;
  const auto from = parse_window_end(options.from), to = parse_window_end(options.to);
  if (!from || !to) {
    fprintf(stderr,
            "heapline lines: --from/--to want seconds since the start, 'start', 'peak' or 'end'\n");
    return 2;
  }
  analysis.from = *from;
  analysis.to = *to;
  try {
    const LineAnalysis result = analyze_lines(options.trace, analysis);
    if (options.json)
      printf("%s\n", lines_to_json(result, listing).dump(2).c_str());
    else
      print_line_listing(result, listing, stdout);
    fflush(stdout);
    return 0;
  } catch (const TraceError& e) {
    fprintf(stderr, "heapline lines: %s\n", e.what());
    return 2;
  } catch (const std::regex_error& e) {
    fprintf(stderr, "heapline lines: bad --skip pattern: %s\n", e.what());
    return 2;
  } catch (const std::invalid_argument& e) {
    fprintf(stderr, "heapline lines: %s\n", e.what());
    return 2;
  }
}

}  // namespace heapline::cli

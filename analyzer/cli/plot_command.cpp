// `heapline plot TRACE -o mem.svg [--top N] [--csv FILE]`: heap and RSS over time as an SVG
// (mprof's plot), the top N allocation sites stacked under the heap curve, the peak marked;
// --csv also writes the series.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "commands.h"
#include "model/timeline_analysis.h"
#include "reader/trace_error.h"
#include "reports/svg_plot.h"
#include "reports/timeline_csv.h"

namespace heapline::cli {
namespace {

bool write_file(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  out.close();
  if (out) return true;
  fprintf(stderr, "heapline plot: cannot write %s: %s\n", path.c_str(), strerror(errno));
  return false;
}

}  // namespace

int plot_command(const PlotOptions& options) {
  using namespace heapline::analysis;
  TimelineOptions analysis;
  analysis.site_rules.skip_patterns = options.skip;
  analysis.top_sites = options.top;
  analysis.growth = false;
  try {
    const TimelineAnalysis result = analyze_timeline(options.trace, analysis);
    std::string cmd;
    for (const std::string& a : result.process.argv) cmd += (cmd.empty() ? "" : " ") + a;
    PlotText text;
    text.title = "heapline: " + (cmd.empty() ? result.process.exe : cmd) + " (pid " +
                 std::to_string(result.process.pid) + ")";
    text.subtitle = "heap and RSS over time; " + options.trace;
    if (!write_file(options.output, render_svg_plot(result.timeline, text))) return 2;
    if (!options.csv.empty() && !write_file(options.csv, timeline_to_csv(result.timeline)))
      return 2;
    for (const std::string& w : result.warnings)
      fprintf(stderr, "heapline plot: note: %s\n", w.c_str());
    return 0;
  } catch (const TraceError& e) {
    fprintf(stderr, "heapline plot: %s\n", e.what());
    return 2;
  } catch (const std::regex_error& e) {
    fprintf(stderr, "heapline plot: bad --skip pattern: %s\n", e.what());
    return 2;
  }
}

}  // namespace heapline::cli

// `heapline plot`: heap and RSS over time as a standalone SVG, in the manner of mprof's plot.
// The top sites are stacked areas under the heap curve (legend: file:line and function), the
// rest is "other"; RSS is a dashed line; the peak is marked with its value and time. Axes carry
// units chosen for the trace (KiB/MiB/GiB, ms/s/min).
#pragma once

#include <string>

#include "model/memory_timeline.h"

namespace heapline::analysis {

struct PlotText {
  std::string title;     // e.g. the command line of the process
  std::string subtitle;  // e.g. the trace path
};

std::string render_svg_plot(const MemoryTimeline& timeline, const PlotText& text);

}  // namespace heapline::analysis

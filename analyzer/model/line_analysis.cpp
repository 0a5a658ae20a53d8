#include "line_analysis.h"

#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "model/live_replay.h"
#include "model/stack_snapshots.h"
#include "reader/record_pipeline.h"

namespace heapline::analysis {
namespace {

std::string seconds_label(uint64_t ns) {
  char buf[32];
  snprintf(buf, sizeof buf, "%.3f s", static_cast<double>(ns) / 1e9);
  return buf;
}

struct ResolvedEnd {
  uint64_t time_ns = 0;
  std::string label;
};

ResolvedEnd resolve(const WindowEnd& end, const Summary& summary) {
  switch (end.kind) {
    case WindowEnd::Kind::kStart:
      return {0, "start"};
    case WindowEnd::Kind::kPeak:
      return {summary.peak_time_ns, "peak (" + seconds_label(summary.peak_time_ns) + ")"};
    case WindowEnd::Kind::kEnd:
      return {summary.duration_ns, "end (" + seconds_label(summary.duration_ns) + ")"};
    case WindowEnd::Kind::kSeconds:
      break;
  }
  const auto ns = static_cast<uint64_t>(std::llround(end.seconds * 1e9));
  return {ns, seconds_label(ns)};
}

// Live bytes per stack at the peak (exact, from the model), or at the end.
std::vector<uint64_t> live_from_model(const AllocationModel& model, bool at_peak) {
  std::vector<uint64_t> live;
  live.reserve(model.stack_stats().size());
  for (const StackStats& s : model.stack_stats())
    live.push_back(at_peak ? s.peak_bytes : s.live_bytes);
  return live;
}

}  // namespace

std::optional<WindowEnd> parse_window_end(const std::string& text) {
  if (text == "start") return WindowEnd{WindowEnd::Kind::kStart, 0};
  if (text == "peak") return WindowEnd{WindowEnd::Kind::kPeak, 0};
  if (text == "end") return WindowEnd{WindowEnd::Kind::kEnd, 0};
  try {
    size_t used = 0;
    const double s = std::stod(text, &used);
    if (used != text.size() || !std::isfinite(s) || s < 0) return std::nullopt;
    return WindowEnd{WindowEnd::Kind::kSeconds, s};
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

LineAnalysis analyze_lines(const std::string& path, const LineAnalysisOptions& options) {
  TraceReader reader(path);
  AllocationModel model;
  model.read_all(reader);
  const uint64_t sample_bytes = reader.info().header.sample_bytes;

  LineAnalysis out;
  out.trace = reader.info();
  out.summary = model.summary();
  out.process = model.process();
  const ResolvedEnd from = resolve(options.from, out.summary);
  const ResolvedEnd to = resolve(options.to, out.summary);
  if (from.time_ns > to.time_ns)
    throw std::invalid_argument("the window ends (" + to.label + ") before it starts (" +
                                from.label + ")");
  out.from_ns = from.time_ns;
  out.to_ns = to.time_ns;
  out.from_label = from.label;
  out.to_label = to.label;

  // Live bytes per stack at each end of the window.
  std::vector<uint64_t> live[2];
  const WindowEnd* ends[2] = {&options.from, &options.to};
  std::vector<uint64_t> replay_times;
  for (int i = 0; i < 2; ++i) {
    if (ends[i]->kind == WindowEnd::Kind::kPeak) live[i] = live_from_model(model, true);
    if (ends[i]->kind == WindowEnd::Kind::kEnd) live[i] = live_from_model(model, false);
    if (ends[i]->kind == WindowEnd::Kind::kSeconds)
      replay_times.push_back(i == 0 ? from.time_ns : to.time_ns);
  }
  if (!replay_times.empty()) {
    StackSnapshots snapshots(replay_times);
    LiveReplay replay(sample_bytes);
    replay.add_listener(snapshots);
    read_pipelined(reader, replay);
    replay.finish();
    size_t next = 0;
    for (int i = 0; i < 2; ++i)
      if (ends[i]->kind == WindowEnd::Kind::kSeconds) live[i] = snapshots.snapshot(next++);
  }
  WindowLive window;
  if (options.from.kind != WindowEnd::Kind::kStart) window.from = &live[0];
  if (options.to.kind != WindowEnd::Kind::kStart) window.to = &live[1];

  Symbolizer symbolizer;
  StackSymbolizer stacks(model, symbolizer, options.site_rules);
  out.lines = build_line_table(model, stacks, window);
  out.warnings = analysis_warnings(symbolizer, out.trace, sample_bytes);
  return out;
}

}  // namespace heapline::analysis

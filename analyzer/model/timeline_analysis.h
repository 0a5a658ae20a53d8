// The pipeline behind `heapline plot` and the growth suspects of `heapline leaks`: the model's
// pass (totals, peak, stacks), allocation sites from the symbolized stacks, then one more pass
// over the trace (LiveReplay) feeding the time series and/or the per-site series that the growth
// detector judges. Memory stays bounded by live blocks, stacks and sites x samples.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/growth_detector.h"
#include "model/memory_timeline.h"
#include "model/report_model.h"

namespace heapline::analysis {

struct TimelineOptions {
  SiteRules site_rules;
  bool timeline = true;  // heap/RSS buckets with the top sites stacked
  size_t top_sites = 5;
  size_t max_buckets = 1000;
  bool growth = true;  // per-site series and growth suspects
  size_t growth_samples = 100;
  GrowthOptions growth_options;
};

struct TimelineAnalysis {
  TraceInfo trace;
  Summary summary;
  ProcessFacts process;
  MemoryTimeline timeline;           // empty unless options.timeline
  std::vector<GrowingSite> growing;  // empty unless options.growth
  std::vector<std::string> warnings;
};

// Throws TraceError on unreadable input.
TimelineAnalysis analyze_timeline(const std::string& path, const TimelineOptions& options);
// The same with the model's pass already done over `reader` (read_all): only the replay reads
// the trace again. Warnings are the symbolizer's so far.
TimelineAnalysis analyze_timeline(TraceReader& reader, const AllocationModel& model,
                                  Symbolizer& symbolizer, const TimelineOptions& options);

}  // namespace heapline::analysis

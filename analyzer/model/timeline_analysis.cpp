#include "timeline_analysis.h"

#include <algorithm>
#include <numeric>

#include "model/live_replay.h"
#include "model/site_index.h"
#include "model/site_series.h"
#include "reader/record_pipeline.h"

namespace heapline::analysis {
namespace {

// The sites to stack under the heap curve: those holding the most at the peak (what makes the
// curve's highest point), then, if fewer than `count` held anything then, the most allocated.
std::vector<uint32_t> pick_top_sites(const AllocationModel& model, const SiteIndex& sites,
                                     size_t count) {
  std::vector<uint64_t> peak(sites.sites.size(), 0), allocated(sites.sites.size(), 0);
  const auto& stats = model.stack_stats();
  for (uint32_t id = 0; id < stats.size(); ++id) {
    const uint32_t site = sites.site_of(id);
    if (site == kNoSite) continue;
    peak[site] += stats[id].peak_bytes;
    allocated[site] += stats[id].bytes_allocated;
  }
  std::vector<uint32_t> order(sites.sites.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    if (peak[a] != peak[b]) return peak[a] > peak[b];
    if (allocated[a] != allocated[b]) return allocated[a] > allocated[b];
    return a < b;
  });
  if (order.size() > count) order.resize(count);
  while (!order.empty() && allocated[order.back()] == 0 && peak[order.back()] == 0)
    order.pop_back();
  return order;
}

}  // namespace

TimelineAnalysis analyze_timeline(const std::string& path, const TimelineOptions& options) {
  TraceReader reader(path);
  AllocationModel model;
  model.read_all(reader);
  Symbolizer symbolizer;
  return analyze_timeline(reader, model, symbolizer, options);
}

TimelineAnalysis analyze_timeline(TraceReader& reader, const AllocationModel& model,
                                  Symbolizer& symbolizer, const TimelineOptions& options) {
  const uint64_t sample_bytes = reader.info().header.sample_bytes;

  TimelineAnalysis out;
  out.trace = reader.info();
  out.summary = model.summary();
  out.process = model.process();

  StackSymbolizer stacks(model, symbolizer, options.site_rules);
  const SiteIndex sites = index_sites(model, stacks);

  const uint64_t duration = out.summary.duration_ns;
  TimelineBuilder timeline(
      sites,
      options.timeline ? pick_top_sites(model, sites, options.top_sites) : std::vector<uint32_t>{},
      duration, options.max_buckets);
  SiteSeriesBuilder series(sites, duration, options.growth_samples);
  LiveReplay replay(sample_bytes);
  if (options.timeline) replay.add_listener(timeline);
  if (options.growth) replay.add_listener(series);
  if (options.timeline || options.growth) {
    read_pipelined(reader, replay);
    replay.finish();
  }
  if (options.timeline) out.timeline = timeline.take();
  if (options.growth)
    out.growing = find_growing_sites(sites, series.take(), options.growth_options);

  out.warnings = analysis_warnings(symbolizer, out.trace, sample_bytes);
  return out;
}

}  // namespace heapline::analysis

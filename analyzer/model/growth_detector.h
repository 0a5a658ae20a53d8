// Growth suspects: sites whose live memory keeps growing across the run, even when the program
// frees everything before it exits (so the end state says nothing). Judged on each site's series
// of live bytes (SiteSeries), never by comparing two moments:
//
//  - the trend is the Theil-Sen slope (median of the slopes between every pair of samples), which
//    ignores up to ~29% of outlying samples: a teardown in the last instants, a few spikes;
//  - its significance is a one-sided Mann-Kendall test (with the variance correction for ties,
//    which flat stretches are full of); `confidence` is 1 - p;
//  - "keeps growing" means the trend holds over the whole run AND over its second half: a cache
//    that fills up and then stays flat, or a buffer that grows and is released, has no upward
//    trend in the second half and is not a suspect.
//
// Live-byte samples are autocorrelated, which makes Mann-Kendall's p-values optimistic; the
// second-half test and the minimum growth are what keep noise out in practice.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "model/site_index.h"
#include "model/site_series.h"

namespace heapline::analysis {

struct GrowthOptions {
  double min_confidence = 0.99;      // 1 - p of the Mann-Kendall test, in both windows
  uint64_t min_growth_bytes = 1024;  // trend x duration must reach this
};

struct Trend {
  double slope = 0;       // Theil-Sen, units per sample
  double confidence = 0;  // 1 - one-sided p (upward trend)
  double tau = 0;         // Kendall's tau: 1 = every later sample above every earlier one
};
// The trend of `values` (Theil-Sen slope, Mann-Kendall confidence, Kendall's tau). O(n^2).
Trend measure_trend(const std::vector<uint64_t>& values, size_t begin, size_t end);

struct GrowingSite {
  uint32_t site = 0;  // index into SiteIndex::sites
  SourceLocation where;
  double bytes_per_s = 0;
  double confidence = 0;  // the smaller of the two windows'
  double steadiness = 0;  // Kendall's tau over the whole run
};

// Suspects, fastest growing first.
std::vector<GrowingSite> find_growing_sites(const SiteIndex& sites, const SiteSeries& series,
                                            const GrowthOptions& options = {});

}  // namespace heapline::analysis

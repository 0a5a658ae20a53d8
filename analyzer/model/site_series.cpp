#include "site_series.h"

#include <algorithm>

namespace heapline::analysis {

SiteSeriesBuilder::SiteSeriesBuilder(const SiteIndex& sites, uint64_t duration_ns, size_t samples)
    : sites_(sites), samples_(std::max<size_t>(samples, 1)), state_(sites.sites.size()) {
  series_.slice_ns = std::max<uint64_t>(1, duration_ns / samples_ + 1);
  series_.max_live.resize(sites.sites.size());
}

// Moves `site` to `slice`: the slices in between held its present value all along.
void SiteSeriesBuilder::advance(uint32_t site, size_t slice) {
  SiteState& s = state_[site];
  std::vector<uint64_t>& values = series_.max_live[site];
  if (values.empty()) values.assign(samples_, 0);  // live was 0 until now
  for (size_t i = s.slice + 1; i <= slice; ++i) values[i] = s.live;
  s.slice = std::max(s.slice, slice);
}

void SiteSeriesBuilder::on_live_change(uint64_t time_ns, uint32_t stack_id, int64_t delta) {
  const uint32_t site = sites_.site_of(stack_id);
  if (site == kNoSite) return;
  const size_t slice = std::min<size_t>(time_ns / series_.slice_ns, samples_ - 1);
  advance(site, slice);
  SiteState& s = state_[site];
  s.live += static_cast<uint64_t>(delta);
  uint64_t& max = series_.max_live[site][s.slice];
  max = std::max(max, s.live);
}

void SiteSeriesBuilder::on_replay_end() {
  for (uint32_t site = 0; site < state_.size(); ++site)
    if (!series_.max_live[site].empty()) advance(site, samples_ - 1);
}

}  // namespace heapline::analysis

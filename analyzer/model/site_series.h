// Live bytes of every allocation site over the run, coarsely: `samples` equal slices, each
// holding the site's maximum within it. This is what the growth detector reads. The maximum (not
// the value at the slice's end) keeps a site's level when the program frees everything in its
// last instants, so a leak freed at exit still shows as growth.
// Memory: sites x samples values, allocated only for sites that change.
#pragma once

#include <cstdint>
#include <vector>

#include "model/live_replay.h"
#include "model/site_index.h"

namespace heapline::analysis {

struct SiteSeries {
  uint64_t slice_ns = 0;
  // By site index; empty for a site whose live bytes never changed.
  std::vector<std::vector<uint64_t>> max_live;
};

class SiteSeriesBuilder : public LiveChangeListener {
 public:
  SiteSeriesBuilder(const SiteIndex& sites, uint64_t duration_ns, size_t samples = 100);

  void on_live_change(uint64_t time_ns, uint32_t stack_id, int64_t delta) override;
  void on_replay_end() override;

  SiteSeries take() { return std::move(series_); }

 private:
  struct SiteState {
    uint64_t live = 0;
    size_t slice = 0;  // the slice series_[site][slice] is the running max of
  };
  void advance(uint32_t site, size_t slice);

  const SiteIndex& sites_;
  size_t samples_;
  std::vector<SiteState> state_;
  SiteSeries series_;
};

}  // namespace heapline::analysis

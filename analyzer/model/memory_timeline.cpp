#include "memory_timeline.h"

#include <algorithm>

namespace heapline::analysis {

TimelineBuilder::TimelineBuilder(const SiteIndex& sites, std::vector<uint32_t> top_sites,
                                 uint64_t duration_ns, size_t max_buckets)
    : sites_(sites), top_slot_of_site_(sites.sites.size(), -1), top_live_(top_sites.size(), 0) {
  max_buckets = std::max<size_t>(max_buckets, 1);
  // At least a microsecond per bucket: finer than the trace's own clock is pointless.
  const uint64_t width = std::max<uint64_t>(1000, duration_ns / max_buckets + 1);
  const size_t count = std::min<size_t>(max_buckets, duration_ns / width + 1);
  timeline_.bucket_ns = width;
  timeline_.duration_ns = duration_ns;
  timeline_.buckets.resize(count);
  for (size_t i = 0; i < count; ++i) {
    timeline_.buckets[i].start_ns = i * width;
    timeline_.buckets[i].heap_max_time_ns = i * width;
    timeline_.buckets[i].top_site_bytes.assign(top_sites.size(), 0);
  }
  for (size_t slot = 0; slot < top_sites.size(); ++slot) {
    top_slot_of_site_.at(top_sites[slot]) = static_cast<int32_t>(slot);
    timeline_.top_sites.push_back(sites.sites[top_sites[slot]]);
  }
}

// The bucket holding `time_ns`. Buckets skipped since the last change held the present state
// throughout, so they start with it (their maximum is at their start).
TimelineBucket& TimelineBuilder::bucket_at(uint64_t time_ns) {
  auto& buckets = timeline_.buckets;
  const size_t index = std::min<size_t>(time_ns / timeline_.bucket_ns, buckets.size() - 1);
  if (!started_) {
    started_ = true;
    current_ = 0;
  }
  while (current_ < index) {
    TimelineBucket& next = buckets[++current_];
    next.heap_max_bytes = heap_;
    next.heap_max_time_ns = next.start_ns;
    next.top_site_bytes = top_live_;
  }
  return buckets[current_];
}

void TimelineBuilder::on_live_change(uint64_t time_ns, uint32_t stack_id, int64_t delta) {
  TimelineBucket& b = bucket_at(time_ns);
  heap_ += static_cast<uint64_t>(delta);
  const uint32_t site = sites_.site_of(stack_id);
  if (site != kNoSite && top_slot_of_site_[site] >= 0)
    top_live_[static_cast<size_t>(top_slot_of_site_[site])] += static_cast<uint64_t>(delta);
  if (heap_ > b.heap_max_bytes) {
    b.heap_max_bytes = heap_;
    b.heap_max_time_ns = time_ns;
    b.top_site_bytes = top_live_;
  }
  if (heap_ > timeline_.peak_bytes) {
    timeline_.peak_bytes = heap_;
    timeline_.peak_time_ns = time_ns;
  }
}

void TimelineBuilder::on_rss_sample(uint64_t time_ns, uint64_t rss_bytes) {
  TimelineBucket& b = bucket_at(time_ns);
  if (!b.has_rss || rss_bytes > b.rss_max_bytes) {
    b.has_rss = true;
    b.rss_max_bytes = rss_bytes;
    b.rss_max_time_ns = time_ns;
  }
  if (rss_bytes > timeline_.peak_rss_bytes) {
    timeline_.peak_rss_bytes = rss_bytes;
    timeline_.peak_rss_time_ns = time_ns;
  }
}

void TimelineBuilder::on_replay_end() {
  bucket_at(timeline_.duration_ns);  // carries the final state to the last bucket
  timeline_.end_heap_bytes = heap_;
}

}  // namespace heapline::analysis

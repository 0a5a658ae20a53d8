// Heap (live requested bytes) and RSS over time, in at most `max_buckets` equal slices of the
// run, for `heapline plot` and its CSV. The bucket width follows the length of the trace (a 10 ms
// run and a 10 minute run both get ~1000 points), and each bucket keeps its MAXIMUM, with the time
// it was reached, so a short spike, and the peak above all, is never averaged away.
//
// The chosen top sites are stacked under the heap curve: at each bucket's maximum the live bytes
// of every top site are copied, so the stack adds up to the heap exactly at that moment ("other"
// is the rest).
//
//   heap ^        .--peak
//        |   ___./        each bucket: max heap, the time of that max,
//        |  /   top sites at that moment, max RSS sample
//        +-|--|--|--|--> t
#pragma once

#include <cstdint>
#include <vector>

#include "model/live_replay.h"
#include "model/site_index.h"

namespace heapline::analysis {

struct TimelineBucket {
  uint64_t start_ns = 0;
  uint64_t heap_max_bytes = 0;
  uint64_t heap_max_time_ns = 0;
  std::vector<uint64_t> top_site_bytes;  // parallel to MemoryTimeline::top_sites, at the max
  bool has_rss = false;
  uint64_t rss_max_bytes = 0;
  uint64_t rss_max_time_ns = 0;
};

struct MemoryTimeline {
  uint64_t bucket_ns = 0;
  uint64_t duration_ns = 0;
  std::vector<SourceLocation> top_sites;
  std::vector<TimelineBucket> buckets;
  uint64_t peak_bytes = 0;  // equals the largest heap_max_bytes
  uint64_t peak_time_ns = 0;
  uint64_t peak_rss_bytes = 0;
  uint64_t peak_rss_time_ns = 0;
  uint64_t end_heap_bytes = 0;  // live when the trace ended (after a free-everything at exit)
};

class TimelineBuilder : public LiveChangeListener {
 public:
  // `top_sites` are indices into `sites.sites`; at most a handful (each costs a copy per new
  // bucket maximum).
  TimelineBuilder(const SiteIndex& sites, std::vector<uint32_t> top_sites, uint64_t duration_ns,
                  size_t max_buckets = 1000);

  void on_live_change(uint64_t time_ns, uint32_t stack_id, int64_t delta) override;
  void on_rss_sample(uint64_t time_ns, uint64_t rss_bytes) override;
  void on_replay_end() override;

  MemoryTimeline take() { return std::move(timeline_); }

 private:
  TimelineBucket& bucket_at(uint64_t time_ns);

  const SiteIndex& sites_;
  std::vector<int32_t> top_slot_of_site_;  // -1 unless a top site
  std::vector<uint64_t> top_live_;
  uint64_t heap_ = 0;
  size_t current_ = 0;  // buckets before this one are final
  bool started_ = false;
  MemoryTimeline timeline_;
};

}  // namespace heapline::analysis

// `heapline plot --csv FILE`: the time series as CSV for other tools. One row per bucket:
//   time_s        when the bucket's heap maximum was reached (seconds since start)
//   heap_bytes    that maximum (live requested bytes)
//   rss_bytes     the largest RSS sample in the bucket, empty when none fell in it
//   <site>...     live bytes of each top site at time_s (header: "file:line function")
//   other_bytes   heap_bytes minus the top sites
// Columns may be added at the end, never renamed.
#pragma once

#include <string>

#include "model/memory_timeline.h"

namespace heapline::analysis {

std::string timeline_to_csv(const MemoryTimeline& timeline);

}  // namespace heapline::analysis

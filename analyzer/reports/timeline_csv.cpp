#include "timeline_csv.h"

#include <cinttypes>
#include <cstdio>

namespace heapline::analysis {
namespace {

// RFC 4180: quote a field holding a comma, quote or newline; double the quotes inside.
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::string timeline_to_csv(const MemoryTimeline& t) {
  std::string out = "time_s,heap_bytes,rss_bytes";
  for (const SourceLocation& site : t.top_sites) {
    std::string name = short_site_label(site);
    if (!site.file.empty() && !site.function.empty()) name += " " + site.function;
    out += "," + csv_field(name);
  }
  out += ",other_bytes\n";
  char buf[64];
  for (const TimelineBucket& b : t.buckets) {
    snprintf(buf, sizeof buf, "%.6f,%" PRIu64 ",", static_cast<double>(b.heap_max_time_ns) / 1e9,
             b.heap_max_bytes);
    out += buf;
    if (b.has_rss) out += std::to_string(b.rss_max_bytes);
    uint64_t stacked = 0;
    for (const uint64_t v : b.top_site_bytes) {
      out += "," + std::to_string(v);
      stacked += v;
    }
    out += "," + std::to_string(b.heap_max_bytes - stacked) + "\n";
  }
  return out;
}

}  // namespace heapline::analysis

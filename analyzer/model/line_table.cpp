#include "line_table.h"

#include <algorithm>
#include <map>
#include <tuple>

namespace heapline::analysis {
namespace {

// file, line, function: views of the stacks' interned names, which outlive the table's build.
using LineKey = std::tuple<std::string_view, uint32_t, std::string_view>;

uint64_t live_in(const std::vector<uint64_t>* live, uint32_t stack_id) {
  return live && stack_id < live->size() ? (*live)[stack_id] : 0;
}

void add(LineCost& to, const LineCost& cost) {
  to.allocations += cost.allocations;
  to.bytes_allocated += cost.bytes_allocated;
  to.live_end_bytes += cost.live_end_bytes;
  to.live_peak_bytes += cost.live_peak_bytes;
  to.increment_bytes += cost.increment_bytes;
}

}  // namespace

std::vector<LineEntry> build_line_table(const AllocationModel& model, StackSymbolizer& stacks,
                                        const WindowLive& window) {
  std::map<LineKey, LineEntry> lines;
  std::vector<const LineKey*> seen;  // keys already counted for the present stack
  const auto& stats = model.stack_stats();
  for (uint32_t id = 0; id < stats.size(); ++id) {
    const StackStats& s = stats[id];
    const uint64_t from = live_in(window.from, id), to = live_in(window.to, id);
    if (s.allocations == 0 && from == 0 && to == 0) continue;
    LineCost cost;
    cost.allocations = s.allocations;
    cost.bytes_allocated = s.bytes_allocated;
    cost.live_end_bytes = s.live_bytes;
    cost.live_peak_bytes = s.peak_bytes;
    cost.increment_bytes = static_cast<int64_t>(to) - static_cast<int64_t>(from);

    const std::vector<ResolvedFrame>& frames = stacks.frames(id);
    if (frames.empty()) {
      LineEntry& e = lines[{"", 0, "<unknown stack>"}];
      e.where.function = "<unknown stack>";
      add(e.self, cost);
      continue;
    }
    const size_t site = stacks.site_index(id);
    seen.clear();
    for (size_t i = site; i < frames.size(); ++i) {
      const ResolvedFrame& f = frames[i];
      // Frames without debug info (stripped libraries) are keyed by function alone: one entry
      // per function, which is what heaptrack shows for them too.
      auto [it, inserted] = lines.try_emplace({f.file(), f.line(), f.function()});
      if (inserted) it->second.where = {std::string(f.function()), std::string(f.file()), f.line()};
      if (i == site) add(it->second.self, cost);
      if (std::find(seen.begin(), seen.end(), &it->first) != seen.end()) continue;
      seen.push_back(&it->first);
      add(it->second.inclusive, cost);
    }
  }
  std::vector<LineEntry> out;
  out.reserve(lines.size());
  for (auto& [key, entry] : lines) out.push_back(std::move(entry));
  return out;
}

}  // namespace heapline::analysis

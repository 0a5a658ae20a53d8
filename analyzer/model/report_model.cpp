#include "report_model.h"

#include <algorithm>
#include <map>
#include <memory>
#include <tuple>
#include <unordered_map>

namespace heapline::analysis {
namespace {

// Stacks with the same frames (function, file, line) are one group, whatever their ids: the
// recorder may give a stack two ids, and different return addresses can map to the same lines.
// Frames' strings are interned (frame_pool.h), so equal names have equal addresses.
uint64_t stack_hash(const std::vector<ResolvedFrame>& frames) {
  uint64_t h = frames.size();
  for (const ResolvedFrame& f : frames) {
    h = (h ^ reinterpret_cast<uintptr_t>(f.function().data())) * 0x9e3779b97f4a7c15ull;
    h = (h ^ reinterpret_cast<uintptr_t>(f.file().data())) * 0x9e3779b97f4a7c15ull;
    h = (h ^ f.line()) * 0x9e3779b97f4a7c15ull;
  }
  return h;
}

bool same_lines(const std::vector<ResolvedFrame>& a, const std::vector<ResolvedFrame>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](const ResolvedFrame& x, const ResolvedFrame& y) {
                      return x.function().data() == y.function().data() &&
                             x.file().data() == y.file().data() && x.line() == y.line();
                    });
}

}  // namespace

std::vector<std::string> analysis_warnings(const Symbolizer& symbolizer, const TraceInfo& trace,
                                           uint64_t sample_bytes) {
  std::vector<std::string> out = symbolizer.warnings();
  for (const std::string& note : trace.notes) out.push_back(note);
  if (sample_bytes)
    out.push_back("sampled trace (one sample per " + std::to_string(sample_bytes) +
                  " bytes on average): figures are estimates");
  return out;
}

void prefetch_report_debug_info(AllocationModel& model, Symbolizer& symbolizer, bool whole_stacks) {
  model.set_module_listener([&symbolizer, whole_stacks, first = true](const ModuleInfo& m) mutable {
    const size_t slash = m.path.rfind('/');
    const bool libc = m.path.compare(slash == std::string::npos ? 0 : slash + 1, 7, "libc.so") == 0;
    if (first || (libc && whole_stacks)) symbolizer.prefetch({m.path, m.build_id_hex});
    first = false;
  });
}

Report analyze_trace(const std::string& path, const AnalysisOptions& options) {
  auto reader = std::make_unique<TraceReader>(path);
  auto model = std::make_unique<AllocationModel>();
  auto symbolizer = std::make_unique<Symbolizer>();
  prefetch_report_debug_info(*model, *symbolizer, options.leak_groups);
  model->read_all(*reader);
  Report report = build_report(reader->info(), *model, *symbolizer, options);
  if (options.leave_to_exit) {
    [[maybe_unused]] TraceReader* kept_reader = reader.release();
    [[maybe_unused]] AllocationModel* kept_model = model.release();
    [[maybe_unused]] Symbolizer* kept_symbolizer = symbolizer.release();
  }
  return report;
}

Report build_report(const TraceInfo& trace, const AllocationModel& model, Symbolizer& symbolizer,
                    const AnalysisOptions& options) {
  Report report;
  report.trace = trace;
  report.summary = model.summary();
  report.process = model.process();
  report.complete = (report.process.exited || report.process.execed) && !report.trace.truncated;

  StackSymbolizer stacks(model, symbolizer, options.site_rules);
  report.frame_pool = stacks.pool();
  std::unordered_multimap<uint64_t, size_t> leak_index;  // stack_hash -> index in report.leaks
  std::map<std::tuple<std::string, uint32_t, std::string>, LineFigures> lines;
  const auto& stats = model.stack_stats();
  for (uint32_t id = 0; id < stats.size(); ++id) {
    const StackStats& s = stats[id];
    if (s.allocations == 0) continue;
    const SourceLocation site = stacks.site(id);

    LineFigures& line = lines[{site.file, site.line, site.function}];
    line.where = site;
    line.allocations += s.allocations;
    line.bytes_allocated += s.bytes_allocated;
    line.peak_bytes += s.peak_bytes;
    line.leaked_bytes += s.live_bytes;
    line.leaked_blocks += s.live_blocks;
    line.temporary += s.temporary;

    if (s.live_blocks == 0) continue;
    if (!options.leak_groups) {
      stacks.open_modules(id);
      continue;
    }
    // Whole stacks only for the leaks, which show them.
    const std::vector<ResolvedFrame>& frames = stacks.frames(id);
    const uint64_t hash = stack_hash(frames);
    auto [first, last] = leak_index.equal_range(hash);
    auto match = std::find_if(first, last, [&](const auto& entry) {
      return same_lines(report.leaks[entry.second].stack, frames);
    });
    size_t group;
    if (match != last) {
      group = match->second;
    } else {
      group = report.leaks.size();
      leak_index.emplace(hash, group);
      report.leaks.push_back({0, 0, site, frames});
    }
    report.leaks[group].bytes += s.live_bytes;
    report.leaks[group].blocks += s.live_blocks;
  }
  std::sort(report.leaks.begin(), report.leaks.end(), [](const LeakGroup& a, const LeakGroup& b) {
    return a.bytes != b.bytes ? a.bytes > b.bytes : a.blocks > b.blocks;
  });
  for (auto& [key, figures] : lines) report.lines.push_back(std::move(figures));
  std::sort(report.lines.begin(), report.lines.end(), [](const LineFigures& a, const LineFigures& b) {
    if (a.peak_bytes != b.peak_bytes) return a.peak_bytes > b.peak_bytes;
    return a.bytes_allocated > b.bytes_allocated;
  });
  report.warnings = symbolizer.warnings();
  for (const std::string& note : report.trace.notes) report.warnings.push_back(note);
  if (report.summary.lost_allocations || report.summary.lost_frees)
    report.warnings.push_back("the recorder could not record " +
                              std::to_string(report.summary.lost_allocations) + " allocations and " +
                              std::to_string(report.summary.lost_frees) + " frees");
  return report;
}

}  // namespace heapline::analysis

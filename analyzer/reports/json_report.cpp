#include "json_report.h"

namespace heapline::analysis {

using json = nlohmann::ordered_json;

using nlohmann::ordered_json;

json location_to_json(const SourceLocation& where) {
  return {{"function", where.function}, {"file", where.file}, {"line", where.line}};
}

json frame_to_json(const ResolvedFrame& f) {
  return {{"function", f.function}, {"file", f.file},       {"line", f.line},
          {"module", f.module},     {"inlined", f.inlined}, {"address", f.address}};
}

json report_to_json(const Report& r) {
  const Summary& s = r.summary;
  json out;
  out["heapline_report"] = 1;
  out["process"] = {{"pid", r.process.pid},   {"ppid", r.process.ppid},
                    {"exe", r.process.exe},   {"argv", r.process.argv},
                    {"complete", r.complete}, {"exit_status", r.process.exit_status},
                    {"exit_kind", r.process.execed            ? "exec"
                                  : r.process.has_exit_record ? exit_kind_name(r.process.exit_kind)
                                                              : "none"}};
  if (r.process.execed) out["process"]["exec_path"] = r.process.exec_path;
  out["summary"] = {
      {"allocations", s.allocations},
      {"frees", s.frees},
      {"bytes_allocated", s.bytes_allocated},
      {"peak_bytes", s.peak_bytes},
      {"peak_time_s", static_cast<double>(s.peak_time_ns) / 1e9},
      {"leaked_bytes", s.leaked_bytes},
      {"leaked_blocks", s.leaked_blocks},
      {"temporary_allocations", s.temporary_allocations},
      {"duration_s", static_cast<double>(s.duration_ns) / 1e9},
      {"peak_rss_bytes", s.peak_rss_bytes},
      {"unmatched_frees", s.unmatched_frees},
      {"lost_allocations", s.lost_allocations},
      {"lost_frees", s.lost_frees},
  };
  if (s.sample_bytes) {
    out["summary"]["sampling"] = {{"sample_bytes", s.sample_bytes},
                                  {"recorded_allocations", s.recorded_allocations},
                                  {"bytes_allocated_stderr", s.bytes_allocated_stderr},
                                  {"leaked_bytes_stderr", s.leaked_bytes_stderr}};
  }
  json leaks = json::array();
  for (const LeakGroup& g : r.leaks) {
    json stack = json::array();
    for (const ResolvedFrame& f : g.stack) stack.push_back(frame_to_json(f));
    leaks.push_back({{"bytes", g.bytes},
                     {"blocks", g.blocks},
                     {"kind", "unclassified"},
                     {"site", location_to_json(g.site)},
                     {"stack", std::move(stack)}});
  }
  out["leaks"] = std::move(leaks);
  json lines = json::array();
  for (const LineFigures& l : r.lines) {
    lines.push_back({{"file", l.where.file},
                     {"line", l.where.line},
                     {"function", l.where.function},
                     {"allocations", l.allocations},
                     {"bytes_allocated", l.bytes_allocated},
                     {"peak_bytes", l.peak_bytes},
                     {"leaked_bytes", l.leaked_bytes},
                     {"leaked_blocks", l.leaked_blocks},
                     {"temporary_allocations", l.temporary}});
  }
  out["lines"] = std::move(lines);
  out["trace"] = {{"path", r.trace.path},
                  {"truncated", r.trace.truncated},
                  {"file_bytes", r.trace.file_size},
                  {"disk_bytes", r.trace.disk_bytes},
                  {"compressed_frames", r.trace.frames},
                  {"ring_chunks", r.trace.ring_chunks}};
  out["warnings"] = r.warnings;
  return out;
}

}  // namespace heapline::analysis

#include "text_report.h"

#include <algorithm>
#include <cinttypes>
#include <cstring>
#include <vector>

namespace heapline::analysis {
namespace {

std::string where(const SourceLocation& l) {
  std::string s = l.function.empty() ? std::string("??") : l.function;
  if (!l.file.empty()) s += "  " + l.file + ":" + std::to_string(l.line);
  return s;
}

void print_header(const Report& r, FILE* out) {
  const Summary& s = r.summary;
  std::string cmd;
  for (const std::string& a : r.process.argv) cmd += (cmd.empty() ? "" : " ") + a;
  fprintf(out, "heapline report: %s\n", r.trace.path.c_str());
  fprintf(out, "process %u: %s\n", r.process.pid, cmd.empty() ? r.process.exe.c_str() : cmd.c_str());
  if (r.process.execed) {
    fprintf(out, "ended: exec'd into %s%s\n", r.process.exec_path.c_str(),
            r.trace.truncated ? "; INCOMPLETE, trace truncated" : "");
  } else if (r.complete) {
    fprintf(out, "ended: exit status %" PRId64 "\n", r.process.exit_status);
  } else if (r.process.has_exit_record && r.process.exit_kind == format::ExitKind::kSignal) {
    fprintf(out, "ended: killed by signal %" PRId64 " (%s); INCOMPLETE%s\n", r.process.exit_status,
            strsignal(static_cast<int>(r.process.exit_status)), r.trace.truncated ? ", trace truncated" : "");
  } else if (r.process.has_exit_record) {
    fprintf(out, "ended: %s(%" PRId64 ")%s\n", exit_kind_name(r.process.exit_kind),
            r.process.exit_status, r.trace.truncated ? ", trace truncated" : "");
  } else {
    fprintf(out, "ended: without exit (killed by a signal or crashed); INCOMPLETE%s\n",
            r.trace.truncated ? ", trace truncated" : "");
  }
  fprintf(out, "\n");
  fprintf(out, "  duration          %.3f s\n", static_cast<double>(s.duration_ns) / 1e9);
  fprintf(out, "  allocations       %" PRIu64 " (%s), %" PRIu64 " temporary\n", s.allocations,
          human_bytes(s.bytes_allocated).c_str(), s.temporary_allocations);
  fprintf(out, "  frees             %" PRIu64 "\n", s.frees);
  fprintf(out, "  peak heap         %s at %.3f s\n", human_bytes(s.peak_bytes).c_str(),
          static_cast<double>(s.peak_time_ns) / 1e9);
  fprintf(out, "  peak RSS          %s\n", human_bytes(s.peak_rss_bytes).c_str());
  fprintf(out, "  leaked            %s in %" PRIu64 " blocks\n", human_bytes(s.leaked_bytes).c_str(),
          s.leaked_blocks);
  if (s.sample_bytes) {
    fprintf(out, "  SAMPLED           every %s on average: %" PRIu64 " allocations recorded; "
            "figures are estimates (allocated +/- %s, leaked +/- %s at 95%%)\n",
            human_bytes(s.sample_bytes).c_str(), s.recorded_allocations,
            human_bytes(static_cast<uint64_t>(1.96 * s.bytes_allocated_stderr)).c_str(),
            human_bytes(static_cast<uint64_t>(1.96 * s.leaked_bytes_stderr)).c_str());
  }
}

void print_warnings(const Report& r, FILE* out) {
  if (r.warnings.empty()) return;
  fprintf(out, "\nnotes:\n");
  for (const std::string& w : r.warnings) fprintf(out, "  - %s\n", w.c_str());
}

}  // namespace

std::string human_bytes(uint64_t bytes) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double v = static_cast<double>(bytes);
  int unit = 0;
  while (v >= 1024 && unit < 4) {
    v /= 1024;
    ++unit;
  }
  char buf[32];
  snprintf(buf, sizeof buf, "%.2f %s", v, kUnits[unit]);
  return buf;
}

void print_text_report(const Report& r, size_t top, FILE* out) {
  print_header(r, out);
  std::vector<const LineFigures*> by_peak;
  for (const LineFigures& l : r.lines)
    if (l.peak_bytes) by_peak.push_back(&l);
  fprintf(out, "\ntop sites by memory at peak:\n");
  for (size_t i = 0; i < by_peak.size() && i < top; ++i)
    fprintf(out, "  %10s  %8" PRIu64 " allocs  %s\n", human_bytes(by_peak[i]->peak_bytes).c_str(),
            by_peak[i]->allocations, where(by_peak[i]->where).c_str());

  std::vector<const LineFigures*> by_leak;
  for (const LineFigures& l : r.lines)
    if (l.leaked_bytes || l.leaked_blocks) by_leak.push_back(&l);
  std::sort(by_leak.begin(), by_leak.end(),
            [](auto* a, auto* b) { return a->leaked_bytes > b->leaked_bytes; });
  fprintf(out, "\ntop sites by leaked memory:\n");
  if (by_leak.empty()) fprintf(out, "  none\n");
  for (size_t i = 0; i < by_leak.size() && i < top; ++i)
    fprintf(out, "  %10s  %8" PRIu64 " blocks  %s\n", human_bytes(by_leak[i]->leaked_bytes).c_str(),
            by_leak[i]->leaked_blocks, where(by_leak[i]->where).c_str());

  std::vector<const LineFigures*> by_count;
  for (const LineFigures& l : r.lines) by_count.push_back(&l);
  std::sort(by_count.begin(), by_count.end(),
            [](auto* a, auto* b) { return a->allocations > b->allocations; });
  fprintf(out, "\ntop sites by number of allocations:\n");
  for (size_t i = 0; i < by_count.size() && i < top; ++i)
    fprintf(out, "  %10" PRIu64 "  %10s  %s\n", by_count[i]->allocations,
            human_bytes(by_count[i]->bytes_allocated).c_str(), where(by_count[i]->where).c_str());
  print_warnings(r, out);
}

void print_text_leaks(const Report& r, FILE* out) {
  print_header(r, out);
  fprintf(out, "\n%zu leak groups (live when the process ended), largest first:\n", r.leaks.size());
  for (const LeakGroup& g : r.leaks) {
    fprintf(out, "\n%s in %" PRIu64 " blocks allocated at %s\n", human_bytes(g.bytes).c_str(),
            g.blocks, where(g.site).c_str());
    for (const ResolvedFrame& f : g.stack) {
      const std::string_view function = f.function().empty() ? "??" : f.function();
      fprintf(out, "    %s%.*s", f.inlined() ? "(inlined) " : "", static_cast<int>(function.size()),
              function.data());
      if (!f.file().empty())
        fprintf(out, "  %.*s:%u", static_cast<int>(f.file().size()), f.file().data(), f.line());
      else if (!f.module().empty())
        fprintf(out, "  in %.*s", static_cast<int>(f.module().size()), f.module().data());
      fputc('\n', out);
    }
  }
  print_warnings(r, out);
}

}  // namespace heapline::analysis

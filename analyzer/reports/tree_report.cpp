#include "tree_report.h"

#include <cinttypes>
#include <string>

#include "reports/json_report.h"
#include "reports/text_report.h"

namespace heapline::analysis {
namespace {

std::string basename_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// How the process ended, in a word or two.
std::string ending(const ProcessSummary& p) {
  if (p.complete) return p.process.execed ? "exec'd" : "yes";
  if (p.trace.truncated) return "truncated";
  if (p.process.has_exit_record) return exit_kind_name(p.process.exit_kind);
  return "no exit";
}

// The command line, with the executable's own name first (argv[0] may be a full path).
std::string command_line(const ProcessSummary& p) {
  std::string s = basename_of(p.process.exe.empty() ? p.trace.path : p.process.exe);
  for (size_t i = 1; i < p.process.argv.size(); ++i) s += " " + p.process.argv[i];
  constexpr size_t kMax = 72;
  if (s.size() > kMax) s = s.substr(0, kMax - 3) + "...";
  return s;
}

}  // namespace

void print_text_tree(const std::vector<ProcessSummary>& processes, FILE* out) {
  fprintf(out, "heapline report: %zu processes\n\n", processes.size());
  fprintf(out, "%8s %8s %12s %11s %11s  %-9s  %s\n", "pid", "ppid", "allocations", "peak heap",
          "leaked", "complete", "process (trace)");
  for (const ProcessSummary& p : processes) {
    const Summary& s = p.summary;
    fprintf(out, "%8u %8u %12" PRIu64 " %11s %11s  %-9s  %s%s  (%s)\n", p.trace.header.pid,
            p.trace.header.ppid, s.allocations, human_bytes(s.peak_bytes).c_str(),
            human_bytes(s.leaked_bytes).c_str(), ending(p).c_str(),
            std::string(2 * p.depth, ' ').c_str(), command_line(p).c_str(),
            basename_of(p.trace.path).c_str());
  }
  const TreeTotals t = tree_totals(processes);
  fprintf(out, "\ntotal: %zu processes, %" PRIu64 " allocations (%s), %" PRIu64
          " frees, leaked %s in %" PRIu64 " blocks; %zu incomplete\n",
          t.processes, t.allocations, human_bytes(t.bytes_allocated).c_str(), t.frees,
          human_bytes(t.leaked_bytes).c_str(), t.leaked_blocks, t.incomplete);
  if (t.lost_allocations || t.lost_frees)
    fprintf(out, "the recorder could not record %" PRIu64 " allocations and %" PRIu64 " frees\n",
            t.lost_allocations, t.lost_frees);
}

nlohmann::ordered_json tree_to_json(const std::vector<Report>& reports,
                                    const std::vector<ProcessSummary>& processes) {
  nlohmann::ordered_json out;
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (size_t i = 0; i < reports.size(); ++i) {
    nlohmann::ordered_json r = report_to_json(reports[i]);
    if (i < processes.size()) r["depth"] = processes[i].depth;  // in the process tree
    list.push_back(std::move(r));
  }
  out["processes"] = std::move(list);
  const TreeTotals t = tree_totals(processes);
  out["totals"] = {{"processes", t.processes},
                   {"incomplete", t.incomplete},
                   {"allocations", t.allocations},
                   {"frees", t.frees},
                   {"bytes_allocated", t.bytes_allocated},
                   {"leaked_bytes", t.leaked_bytes},
                   {"leaked_blocks", t.leaked_blocks},
                   {"lost_allocations", t.lost_allocations},
                   {"lost_frees", t.lost_frees}};
  return out;
}

}  // namespace heapline::analysis

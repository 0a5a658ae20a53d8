#include "process_tree.h"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <system_error>

#include "reader/trace_error.h"

namespace heapline::analysis {

namespace fs = std::filesystem;

std::vector<std::string> find_trace_files(const std::vector<std::string>& paths) {
  std::vector<std::string> out;
  for (const std::string& path : paths) {
    std::error_code ec;
    if (!fs::is_directory(path, ec)) {
      out.push_back(path);  // a missing or odd file is the reader's to refuse, with its message
      continue;
    }
    std::vector<std::string> found;
    for (const fs::directory_entry& entry : fs::directory_iterator(path, ec))
      if (entry.path().extension() == ".trace" && entry.is_regular_file(ec))
        found.push_back(entry.path().string());
    if (ec) throw TraceError(path, 0, "cannot list directory: " + ec.message());
    std::sort(found.begin(), found.end());
    out.insert(out.end(), found.begin(), found.end());
  }
  return out;
}

ProcessSummary summarize_process(const std::string& path) {
  TraceReader reader(path);
  AllocationModel model;
  model.read_all(reader);
  ProcessSummary s;
  s.trace = reader.info();
  s.process = model.process();
  s.summary = model.summary();
  s.complete = (s.process.exited || s.process.execed) && !s.trace.truncated;
  return s;
}

void order_as_tree(std::vector<ProcessSummary>& processes) {
  const size_t n = processes.size();
  std::vector<size_t> by_start(n);
  for (size_t i = 0; i < n; ++i) by_start[i] = i;
  auto start_of = [&](size_t i) { return processes[i].trace.header.start_realtime_ns; };
  std::stable_sort(by_start.begin(), by_start.end(),
                   [&](size_t a, size_t b) { return start_of(a) < start_of(b); });

  // Parent of each process: the latest-started image of its ppid that started before it.
  constexpr size_t kNone = static_cast<size_t>(-1);
  std::vector<std::vector<size_t>> children(n);
  std::vector<size_t> roots;
  for (size_t k = 0; k < n; ++k) {
    const size_t i = by_start[k];
    const uint32_t ppid = processes[i].trace.header.ppid;
    size_t parent = kNone;
    for (size_t j = 0; j < k; ++j)  // earlier starts only; quadratic, fine for thousands
      if (processes[by_start[j]].trace.header.pid == ppid) parent = by_start[j];
    (parent == kNone ? roots : children[parent]).push_back(i);
  }

  std::vector<ProcessSummary> ordered;
  ordered.reserve(n);
  std::function<void(size_t, size_t)> visit = [&](size_t i, size_t d) {
    ordered.push_back(std::move(processes[i]));
    ordered.back().depth = d;
    for (size_t c : children[i]) visit(c, d + 1);
  };
  for (size_t r : roots) visit(r, 0);
  processes = std::move(ordered);
}

TreeTotals tree_totals(const std::vector<ProcessSummary>& processes) {
  TreeTotals t;
  for (const ProcessSummary& p : processes) {
    ++t.processes;
    t.incomplete += !p.complete;
    t.allocations += p.summary.allocations;
    t.frees += p.summary.frees;
    t.bytes_allocated += p.summary.bytes_allocated;
    t.leaked_bytes += p.summary.leaked_bytes;
    t.leaked_blocks += p.summary.leaked_blocks;
    t.lost_allocations += p.summary.lost_allocations;
    t.lost_frees += p.summary.lost_frees;
  }
  return t;
}

}  // namespace heapline::analysis

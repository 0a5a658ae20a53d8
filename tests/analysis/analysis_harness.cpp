#include "source_text.h"
#include "analysis_harness.h"

#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>

#include <gtest/gtest.h>

#include "reader/trace_error.h"

namespace heapline::analysis_test {
namespace fs = std::filesystem;

Outcome run_program(const std::vector<std::string>& argv, const Env& env, const RunSpec& spec) {
  e2e::RunOptions options;
  options.env = env;
  options.inherit_env = spec.inherit_env;
  options.stdin_path = spec.stdin_path;
  options.timeout_ms = spec.timeout_s * 1000;
  return e2e::run_untraced(argv.at(0), {argv.begin() + 1, argv.end()}, options);
}

void trace_program(Traced& run, const std::vector<std::string>& argv, const Env& env) {
  e2e::RunOptions options;
  options.env = env;
  run.outcome = e2e::run_traced(run.dir, argv.at(0), {argv.begin() + 1, argv.end()}, options);
  const std::vector<std::string>& traces = run.outcome.traces;
  ASSERT_EQ(traces.size(), 1u) << argv[0] << ": " << run.outcome.describe();
  run.trace = traces[0];
  try {
    run.report = analysis::analyze_trace(run.trace, {});
  } catch (const analysis::TraceError& e) {
    FAIL() << "analyze_trace threw: " << e.what();
  }
}

const char* preload_library() { return e2e::preload_library().c_str(); }
const char* heapline_cli() { return HEAPLINE_CLI; }

Outcome run_cli(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {HEAPLINE_CLI};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_program(argv, {});
}

uint32_t marker_line(const std::string& source, const std::string& marker) {
  return e2e::marker_line_in(std::string(ANALYSIS_SOURCES) + "/" + source, marker);
}

bool same_file(std::string_view path, std::string_view name) {
  return !path.empty() && fs::path(path).filename() == fs::path(name).filename();
}

LineFigures line_at(const Report& r, const std::string& file, uint32_t line) {
  LineFigures sum;
  for (const LineFigures& l : r.lines) {
    if (l.where.line != line || !same_file(l.where.file, file)) continue;
    sum.where = l.where;
    sum.allocations += l.allocations;
    sum.bytes_allocated += l.bytes_allocated;
    sum.peak_bytes += l.peak_bytes;
    sum.leaked_bytes += l.leaked_bytes;
    sum.leaked_blocks += l.leaked_blocks;
    sum.temporary += l.temporary;
  }
  return sum;
}

LeakTotals leaked_at(const Report& r, const std::string& file, uint32_t line) {
  LeakTotals t;
  for (const auto& g : r.leaks) {
    if (g.site.line != line || !same_file(g.site.file, file)) continue;
    t.bytes += g.bytes;
    t.blocks += g.blocks;
    ++t.groups;
  }
  return t;
}

LeakTotals leaked_in(const Report& r, const std::string& file) {
  LeakTotals t;
  for (const auto& g : r.leaks) {
    if (!same_file(g.site.file, file)) continue;
    t.bytes += g.bytes;
    t.blocks += g.blocks;
    ++t.groups;
  }
  return t;
}

std::string describe(const Report& r) {
  const auto& s = r.summary;
  char buf[512];
  snprintf(buf, sizeof buf,
           "summary: allocations=%" PRIu64 " frees=%" PRIu64 " bytes=%" PRIu64 " peak=%" PRIu64
           " leaked=%" PRIu64 "/%" PRIu64 " temporary=%" PRIu64 " complete=%d\n",
           s.allocations, s.frees, s.bytes_allocated, s.peak_bytes, s.leaked_bytes,
           s.leaked_blocks, s.temporary_allocations, r.complete ? 1 : 0);
  std::string out = buf;
  for (const auto& g : r.leaks) {
    out += "  leak " + std::to_string(g.bytes) + " B in " + std::to_string(g.blocks) +
           " at " + g.site.function + " " + g.site.file + ":" + std::to_string(g.site.line) + "\n";
    for (const auto& f : g.stack)
      out += "      " + std::string(f.function()) + " " + std::string(f.file()) + ":" +
             std::to_string(f.line()) + (f.inlined() ? " (inlined)" : "") + " [" +
             fs::path(f.module()).filename().string() + "]\n";
  }
  for (const auto& l : r.lines)
    out += "  line " + l.where.file + ":" + std::to_string(l.where.line) + " " +
           l.where.function + " allocs=" + std::to_string(l.allocations) +
           " bytes=" + std::to_string(l.bytes_allocated) +
           " peak=" + std::to_string(l.peak_bytes) + " leaked=" + std::to_string(l.leaked_bytes) +
           "\n";
  for (const auto& w : r.warnings) out += "  warning: " + w + "\n";
  return out;
}

}  // namespace heapline::analysis_test

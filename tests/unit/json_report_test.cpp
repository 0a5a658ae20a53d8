// print_report_json streams the report; report_to_json builds it whole. Their texts must be the
// same byte for byte: the streamed leak groups are written by hand, not by nlohmann.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "reports/json_report.h"

namespace heapline::analysis {
namespace {

std::string streamed(const Report& r, const ReportJsonTail& tail = {}) {
  char* buffer = nullptr;
  size_t size = 0;
  FILE* out = open_memstream(&buffer, &size);
  print_report_json(r, out, tail);
  fclose(out);
  std::string text(buffer, size);
  free(buffer);
  return text;
}

// The report keeps the pool its frames point to, as build_report's does.
ResolvedFrame frame(FramePool& pool, std::string_view function, std::string_view file,
                    uint32_t line, bool inlined, uint64_t address) {
  return {pool.intern(function, file, line, "/usr/lib/libz\"q\\.so", inlined), address};
}

Report report_with_awkward_leaks() {
  Report r;
  auto pool = std::make_shared<FramePool>();
  r.frame_pool = pool;
  r.summary.allocations = 3;
  r.summary.leaked_bytes = UINT64_MAX;
  r.complete = true;
  LeakGroup deep;
  deep.bytes = UINT64_MAX;
  deep.blocks = 100;
  deep.site = {"operator new(unsigned long)", "with \"quotes\" and \\ and \t tab", 4294967295u};
  deep.stack = {frame(*pool, "f<int>()", "/src/a.cpp", 12, false, 0x7fff'ffff'ffff'fff0ull),
                frame(*pool, "inlined \xc3\xa9t\xc3\xa9", "", 0, true, 0),
                frame(*pool, "", "/src/control\x01char.c", 7, false, 1)};
  LeakGroup empty_stack;
  empty_stack.bytes = 64;
  empty_stack.blocks = 1;
  r.leaks = {deep, empty_stack, deep};
  r.lines.push_back({{"main", "/src/m.c", 3}, 1, 2, 3, 4, 5, 6});
  r.warnings = {"a warning"};
  return r;
}

TEST(JsonReport, StreamedLeaksAreTheDocumentsTextByteForByte) {
  const Report r = report_with_awkward_leaks();
  EXPECT_EQ(streamed(r), report_to_json(r).dump(2) + "\n");
}

TEST(JsonReport, NoLeaksIsAnEmptyArray) {
  Report r = report_with_awkward_leaks();
  r.leaks.clear();
  EXPECT_EQ(streamed(r), report_to_json(r).dump(2) + "\n");
}

TEST(JsonReport, TheLeaksTailDropsLinesAndAddsMembersLast) {
  const Report r = report_with_awkward_leaks();
  ReportJsonTail tail;
  tail.without_lines = true;
  tail.extra.push_back({"groups", 3});
  nlohmann::ordered_json whole = report_to_json(r);
  whole.erase("lines");
  whole["groups"] = 3;
  EXPECT_EQ(streamed(r, tail), whole.dump(2) + "\n");
}

}  // namespace
}  // namespace heapline::analysis

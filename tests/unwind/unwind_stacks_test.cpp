// Whole stacks as the recorder captures them with its default unwinder, checked through the
// report: tests/programs/unwind_stacks.c allocates from stacks that differ only below a shared
// frame (the same function at the same depth from two callers, recursion of two depths) and
// from signal handlers, and every block must be attributed to the caller line it came from.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "analysis_harness.h"

namespace heapline::analysis_test {
namespace {

constexpr const char* kSource = "unwind_stacks.c";

struct ByCaller {
  uint64_t bytes = 0, blocks = 0;
};

// Leak groups with site `site_marker`, summed by which of `markers` appears in their stack
// below the site (the first one found from the site outwards).
std::map<std::string, ByCaller> leaks_by_marker(const Report& r, const std::string& site_marker,
                                                const std::vector<std::string>& markers) {
  const uint32_t site = marker_line(kSource, site_marker);
  std::map<uint32_t, std::string> marker_of_line;
  for (const std::string& m : markers) marker_of_line[marker_line(kSource, m)] = m;
  std::map<std::string, ByCaller> out;
  for (const auto& g : r.leaks) {
    if (g.site.line != site || !same_file(g.site.file, kSource)) continue;
    std::string found = "<none>";
    for (const auto& f : g.stack) {
      if (!same_file(f.file(), kSource) || f.line() == site) continue;
      auto it = marker_of_line.find(f.line());
      if (it != marker_of_line.end()) {
        found = it->second;
        break;
      }
    }
    out[found].bytes += g.bytes;
    out[found].blocks += g.blocks;
  }
  return out;
}

size_t frames_at(const std::vector<analysis::ResolvedFrame>& stack, uint32_t line) {
  size_t n = 0;
  for (const auto& f : stack) n += same_file(f.file(), kSource) && f.line() == line;
  return n;
}

class UnwindStacks : public ::testing::TestWithParam<const char*> {};

TEST_P(UnwindStacks, EveryAllocationHasItsOwnCallers) {
  Traced run;
  trace_program(run, {UNWIND_STACKS}, {{"HEAPLINE_UNWIND", GetParam()}});
  ASSERT_TRUE(run.outcome.exited(0)) << run.outcome.describe();
  const Report& r = run.report;
  SCOPED_TRACE(describe(r));

  auto shared = leaks_by_marker(r, "@shared_alloc", {"@from_a", "@from_b"});
  EXPECT_EQ(shared.size(), 2u);
  EXPECT_EQ(shared["@from_a"].blocks, 300u);
  EXPECT_EQ(shared["@from_a"].bytes, 300u * 16);
  EXPECT_EQ(shared["@from_b"].blocks, 300u);
  EXPECT_EQ(shared["@from_b"].bytes, 300u * 32);

  // Recursion: 100 blocks from depth 6 and 100 from depth 3, told apart by their frame counts.
  const uint32_t recursive_alloc = marker_line(kSource, "@recursive_alloc");
  const uint32_t recursive_call = marker_line(kSource, "@recursive_call");
  std::map<size_t, uint64_t> blocks_by_depth;
  for (const auto& g : r.leaks)
    if (g.site.line == recursive_alloc && same_file(g.site.file, kSource))
      blocks_by_depth[frames_at(g.stack, recursive_call)] += g.blocks;
  const std::map<size_t, uint64_t> expected_depths = {{3, 100}, {6, 100}};
  EXPECT_EQ(blocks_by_depth, expected_depths);

  // Signal handlers: through the signal frame to the function that raised it.
  auto handled = leaks_by_marker(r, "@handler_alloc", {"@raise_a", "@raise_b"});
  EXPECT_EQ(handled.size(), 2u);
  EXPECT_EQ(handled["@raise_a"].blocks, 10u);
  EXPECT_EQ(handled["@raise_b"].blocks, 15u);
  EXPECT_EQ(handled["@raise_b"].bytes, 15u * 40);
}

// The default (cached .eh_frame rules) and plain libunwind must agree with the truth alike.
INSTANTIATE_TEST_SUITE_P(Unwinders, UnwindStacks, ::testing::Values("dwarf", "libunwind"));

// rbp holding garbage at an allocation (code without frame pointers): the frame-pointer walk
// once took rbp = 2^64 - 16 for a frame (its bounds test wrapped) and crashed the target (seen
// as `as` dying under g++). Every unwinder must leave the program alone and record every block.
class HostileFramePointer : public ::testing::TestWithParam<const char*> {};

TEST_P(HostileFramePointer, TheProgramRunsOnAndEveryBlockIsRecordedAtItsLine) {
  constexpr const char* kHostileSource = "unwind_hostile_rbp.c";
  Traced run;
  trace_program(run, {UNWIND_HOSTILE_RBP}, {{"HEAPLINE_UNWIND", GetParam()}});
  ASSERT_TRUE(run.outcome.exited(0)) << run.outcome.describe();
  EXPECT_EQ(run.outcome.out, "50\n");
  const Report& r = run.report;
  SCOPED_TRACE(describe(r));
  const uint32_t site = marker_line(kHostileSource, "@hostile_alloc");
  uint64_t blocks = 0, bytes = 0;
  for (const auto& g : r.leaks) {
    if (g.site.line != site || !same_file(g.site.file, kHostileSource)) continue;
    blocks += g.blocks;
    bytes += g.bytes;
  }
  EXPECT_EQ(blocks, 50u);
  EXPECT_EQ(bytes, 50u * 64);
}

INSTANTIATE_TEST_SUITE_P(Unwinders, HostileFramePointer,
                         ::testing::Values("dwarf", "libunwind", "fp"));

}  // namespace
}  // namespace heapline::analysis_test

// dlopen/dlclose (tests/programs/e2e_dlopen.c + e2e_dlopen_lib.c): the library's load and unload
// are recorded once each despite two dlopen/dlclose pairs, and its allocations (including the
// one from its constructor, made while dlopen runs) are recorded and attributed to it.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "trace_contents.h"
#include "traced_process.h"

namespace heapline::e2e {
namespace {

using SizeCounts = std::map<uint64_t, uint64_t>;

TEST(DlopenTest, ModuleLoadUnloadAndItsAllocationsAreRecorded) {
  constexpr int kCount = 40;
  TempDir dir;
  const RunResult r = run_traced(dir, E2E_DLOPEN, {E2E_DLOPEN_LIB, std::to_string(kCount)});
  ASSERT_TRUE(r.exited(0)) << r.describe();
  EXPECT_EQ(r.out, "done\n");
  ASSERT_EQ(r.traces.size(), 1u);
  const TraceContents t = read_trace(r.traces[0]);

  // One load and one unload of the library, the unload naming the loaded id.
  const auto libs = t.modules_named(E2E_DLOPEN_LIB);
  ASSERT_EQ(libs.size(), 1u);
  const ModuleInfo& lib = *libs[0];
  EXPECT_TRUE(lib.unloaded);
  EXPECT_EQ(std::count(t.module_unloads.begin(), t.module_unloads.end(), lib.id), 1);
  EXPECT_EQ(t.module_unloads.size(), 1u);  // nothing else was unloaded
  EXPECT_FALSE(lib.segments.empty());
  // The executable itself was recorded at start and never unloaded.
  ASSERT_EQ(t.modules_named(E2E_DLOPEN).size(), 1u);
  EXPECT_FALSE(t.modules_named(E2E_DLOPEN)[0]->unloaded);

  // Inside the library: the constructor's block and kCount blocks, all freed before unload.
  const EventCounts in_lib = count_events(t, from_module(E2E_DLOPEN_LIB));
  EXPECT_EQ(in_lib.sizes, (SizeCounts{{8001, kCount}, {8003, 1}}));
  EXPECT_EQ(in_lib.frees, kCount + 1u);
  EXPECT_EQ(in_lib.live, 0u);
  // In the program: only the allocation after the last dlclose, still live at exit.
  const EventCounts in_program = count_events(t, from_module(E2E_DLOPEN));
  EXPECT_EQ(in_program.sizes, (SizeCounts{{8005, 1}}));
  EXPECT_EQ(in_program.live, 1u);
  // And nowhere else: the library's sizes are attributed to the library and nothing else.
  EXPECT_EQ(count_events(t, of_sizes({8001, 8003, 8005})).allocations, kCount + 2u);

  EXPECT_EQ(t.allocs_at_live_address, 0u);
  ASSERT_EQ(t.exits.size(), 1u);
  EXPECT_EQ(t.exits[0].status, 0);
}

}  // namespace
}  // namespace heapline::e2e

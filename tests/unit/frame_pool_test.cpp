// FramePool: equal frames share one symbol and equal names one string, and what it hands out
// stays valid while it grows (a Report's leak stacks point into it long after they were made).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "model/frame_pool.h"

namespace heapline::analysis {
namespace {

TEST(FramePool, EqualFramesShareOneSymbol) {
  FramePool pool;
  std::string function = "std::vector<int>::push_back(int const&)";
  const FrameSymbol* a = pool.intern(function, "/src/a.cpp", 12, "/usr/bin/prog", false);
  function[0] = 'X';  // the pool keeps its own copy, not a view of the caller's string
  const FrameSymbol* b =
      pool.intern("std::vector<int>::push_back(int const&)", "/src/a.cpp", 12, "/usr/bin/prog", false);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a->function, "std::vector<int>::push_back(int const&)");
  EXPECT_EQ(a->file, "/src/a.cpp");
  EXPECT_EQ(a->module, "/usr/bin/prog");
  EXPECT_EQ(a->line, 12u);
  EXPECT_FALSE(a->inlined);
}

TEST(FramePool, AnyDifferentFieldIsAnotherSymbolSharingTheEqualStrings) {
  FramePool pool;
  const FrameSymbol* base = pool.intern("f", "/src/a.cpp", 12, "/m", false);
  const FrameSymbol* others[] = {
      pool.intern("g", "/src/a.cpp", 12, "/m", false), pool.intern("f", "/src/b.cpp", 12, "/m", false),
      pool.intern("f", "/src/a.cpp", 13, "/m", false), pool.intern("f", "/src/a.cpp", 12, "/n", false),
      pool.intern("f", "/src/a.cpp", 12, "/m", true)};
  for (const FrameSymbol* o : others) EXPECT_NE(o, base);
  // Equal names are one string: the report groups stacks by these addresses.
  EXPECT_EQ(others[2]->function.data(), base->function.data());
  EXPECT_EQ(others[2]->file.data(), base->file.data());
  EXPECT_EQ(others[0]->file.data(), base->file.data());
  EXPECT_NE(others[0]->function.data(), base->function.data());
  EXPECT_EQ(others[3]->module, "/n");
}

TEST(FramePool, SymbolsAndViewsStayValidWhileThePoolGrows) {
  FramePool pool;
  const FrameSymbol* first = pool.intern("", "", 0, "", false);
  std::vector<const FrameSymbol*> made;
  for (int i = 0; i < 50000; ++i)
    made.push_back(pool.intern("function_" + std::to_string(i), "file_" + std::to_string(i % 97),
                               static_cast<uint32_t>(i), "/lib/libm" + std::to_string(i % 7), i % 2));
  EXPECT_EQ(first->function, "");
  EXPECT_EQ(pool.intern("", "", 0, "", false), first);
  for (int i = 0; i < 50000; i += 4999) {
    ASSERT_EQ(made[i]->function, "function_" + std::to_string(i));
    ASSERT_EQ(made[i]->file, "file_" + std::to_string(i % 97));
    ASSERT_EQ(made[i]->line, static_cast<uint32_t>(i));
    ASSERT_EQ(made[i]->module, "/lib/libm" + std::to_string(i % 7));
    ASSERT_EQ(pool.intern("function_" + std::to_string(i), "file_" + std::to_string(i % 97),
                          static_cast<uint32_t>(i), "/lib/libm" + std::to_string(i % 7), i % 2),
              made[i]);
  }
}

}  // namespace
}  // namespace heapline::analysis

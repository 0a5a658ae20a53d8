// Symbolizer tests against a real -O2 -g program (tests/programs/symbolizer_fixture.{c,cpp}).
//
// The fixture prints return addresses it captured inside known source lines, as ELF virtual
// addresses (pc minus load bias), like the recorder logs them. Expected lines come from the
// "@marker" comments in the fixture sources, so every assertion here is exact.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "symbolizer/demangle.h"
#include "symbolizer/inline_frames.h"
#include "symbolizer/symbolizer.h"
#include "symbolizer_fixture.h"

namespace heapline::analysis {
namespace {

namespace fs = std::filesystem;
using namespace testing_support;

TEST_F(SymbolizerTest, InlinedFrameFirstThenCallerAtCallSite) {
  Symbolizer symbolizer(options_);
  expect_inlined_frames(symbolizer.symbolize({kFixture, ""}, call_pc("ret_inlined")));
  EXPECT_TRUE(symbolizer.warnings().empty());
}

TEST_F(SymbolizerTest, PlainCFunctionHasAbsoluteFileAndExactLine) {
  Symbolizer symbolizer(options_);
  const auto& frames = symbolizer.symbolize({kFixture, ""}, call_pc("ret_plain_c"));
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].function, "fixture_plain_c");
  EXPECT_EQ(frames[0].file, kCSource);
  EXPECT_EQ(frames[0].line, marker_line(kCSource, "plain_c_call"));
  EXPECT_GT(frames[0].column, 0u);
  EXPECT_FALSE(frames[0].inlined);
}

TEST_F(SymbolizerTest, CxxFunctionInNamespaceIsDemangled) {
  Symbolizer symbolizer(options_);
  const auto& frames = symbolizer.symbolize({kFixture, ""}, call_pc("ret_cxx"));
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].function, "heapline_fixture::compute_total(int)");
  EXPECT_EQ(frames[0].file, kCxxSource);
  EXPECT_EQ(frames[0].line, marker_line(kCxxSource, "cxx_call"));
  EXPECT_FALSE(frames[0].inlined);
}

TEST_F(SymbolizerTest, FunctionEntryMapsToItsDeclarationLine) {
  Symbolizer symbolizer(options_);
  const auto& frames = symbolizer.symbolize({kFixture, ""}, fixture_->addresses.at("entry_cxx"));
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].function, "heapline_fixture::compute_total(int)");
  EXPECT_EQ(frames[0].line, marker_line(kCxxSource, "cxx_entry"));
}

TEST_F(SymbolizerTest, MatchingBuildIdIsAcceptedInEitherCase) {
  Symbolizer symbolizer(options_);
  std::string upper = fixture_->build_id;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  expect_inlined_frames(symbolizer.symbolize({kFixture, upper}, call_pc("ret_inlined")));
  EXPECT_TRUE(symbolizer.warnings().empty());
}

TEST_F(SymbolizerTest, StrippedCopyGivesSymbolTableNameWithoutFile) {
  Symbolizer symbolizer(options_);
  const std::string stripped = kFixture + "_stripped";
  // Without DWARF nothing says scaled() was inlined: the one frame is the symbol covering the pc.
  const auto& frames = symbolizer.symbolize({stripped, ""}, call_pc("ret_inlined"));
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].function, "fixture_inline_caller");
  EXPECT_EQ(frames[0].file, "");
  EXPECT_EQ(frames[0].line, 0u);
  EXPECT_FALSE(frames[0].inlined);
  EXPECT_EQ(symbolizer.symbolize({stripped, ""}, call_pc("ret_cxx"))[0].function,
            "heapline_fixture::compute_total(int)");
  ASSERT_EQ(symbolizer.warnings().size(), 1u);
  EXPECT_TRUE(has_warning_containing(symbolizer, stripped, "no debug info"));
}

TEST_F(SymbolizerTest, DebuglinkFindsSeparateDebugFile) {
  Symbolizer symbolizer(options_);
  const std::string linked = kFixture + "_debuglinked";
  expect_inlined_frames(symbolizer.symbolize({linked, fixture_->build_id}, call_pc("ret_inlined")));
  EXPECT_TRUE(symbolizer.warnings().empty());
}

TEST_F(SymbolizerTest, MissingPathGivesBasenamePlusOffset) {
  Symbolizer symbolizer(options_);
  const auto& frames = symbolizer.symbolize({"/nonexistent/dir/libgone.so", ""}, 0x1a2b);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].function, "libgone.so+0x1a2b");
  EXPECT_EQ(frames[0].file, "");
  EXPECT_EQ(frames[0].line, 0u);
  ASSERT_EQ(symbolizer.warnings().size(), 1u);
  EXPECT_TRUE(has_warning_containing(symbolizer, "/nonexistent/dir/libgone.so", "not found"));
}

TEST_F(SymbolizerTest, BuildIdMismatchWarnsAndFallsBackToOffset) {
  Symbolizer symbolizer(options_);
  const std::string wrong_id = "0123456789abcdef0123456789abcdef01234567";
  const uint64_t pc = call_pc("ret_plain_c");
  const auto& frames = symbolizer.symbolize({kFixture, wrong_id}, pc);
  ASSERT_EQ(frames.size(), 1u);
  std::ostringstream expected;
  expected << "symbolizer_fixture+0x" << std::hex << pc;
  EXPECT_EQ(frames[0].function, expected.str());
  EXPECT_EQ(frames[0].file, "");
  ASSERT_EQ(symbolizer.warnings().size(), 1u);
  EXPECT_TRUE(has_warning_containing(symbolizer, "build-id mismatch", wrong_id));
  EXPECT_TRUE(has_warning_containing(symbolizer, "build-id mismatch", fixture_->build_id));
}

TEST_F(SymbolizerTest, BuildIdMismatchUsesBuildIdDebugFile) {
  install_build_id_debug_file();
  Symbolizer symbolizer(options_);
  // A different ELF now sits at the path (think: the binary was rebuilt after the run).
  const std::string rebuilt = fs::read_symlink("/proc/self/exe").string();
  const ModuleIdentity recorded{rebuilt, fixture_->build_id};
  expect_inlined_frames(symbolizer.symbolize(recorded, call_pc("ret_inlined")));
  ASSERT_EQ(symbolizer.warnings().size(), 1u);
  EXPECT_TRUE(has_warning_containing(symbolizer, "build-id mismatch", ".build-id/"));
}

TEST_F(SymbolizerTest, MissingFileIsFoundByBuildId) {
  install_build_id_debug_file();
  Symbolizer symbolizer(options_);
  const auto& frames =
      symbolizer.symbolize({"/gone/symbolizer_fixture", fixture_->build_id}, call_pc("ret_cxx"));
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].function, "heapline_fixture::compute_total(int)");
  EXPECT_EQ(frames[0].line, marker_line(kCxxSource, "cxx_call"));
  EXPECT_TRUE(has_warning_containing(symbolizer, "not found", ".build-id/"));
}

TEST_F(SymbolizerTest, NonElfFileGivesOffsetAndWarning) {
  const fs::path not_elf = debug_root_ / "libtext.so";
  std::ofstream(not_elf) << "this is not an ELF file\n";
  Symbolizer symbolizer(options_);
  EXPECT_EQ(symbolizer.symbolize({not_elf.string(), ""}, 0x10)[0].function, "libtext.so+0x10");
  EXPECT_EQ(symbolizer.symbolize({debug_root_.string(), ""}, 0x20).size(), 1u);  // a directory
  EXPECT_EQ(symbolizer.warnings().size(), 2u);
  EXPECT_TRUE(has_warning_containing(symbolizer, not_elf.string(), "offset"));
}

TEST_F(SymbolizerTest, GarbageInputNeverCrashesNorReturnsEmpty) {
  Symbolizer symbolizer(options_);
  EXPECT_EQ(symbolizer.symbolize({kFixture, ""}, ~uint64_t{0})[0].function,
            "symbolizer_fixture+0xffffffffffffffff");
  EXPECT_EQ(symbolizer.symbolize({kFixture, ""}, 0x7fffffffffffULL)[0].function,
            "symbolizer_fixture+0x7fffffffffff");
  EXPECT_FALSE(symbolizer.symbolize({kFixture, ""}, 0)[0].function.empty());
  // A hostile build-id must not become a path outside the debug root.
  const auto& frames = symbolizer.symbolize({"/nonexistent/x.so", "../../../../etc/passwd"}, 5);
  EXPECT_EQ(frames[0].function, "x.so+0x5");
  EXPECT_EQ(symbolizer.symbolize({"", ""}, 7)[0].function, "unknown+0x7");
}

TEST_F(SymbolizerTest, ModulesAndAddressesAreResolvedOnce) {
  Symbolizer symbolizer(options_);
  const ModuleIdentity fixture{kFixture, ""};
  const auto& first = symbolizer.symbolize(fixture, call_pc("ret_cxx"));
  symbolizer.symbolize(fixture, call_pc("ret_plain_c"));
  const auto& again = symbolizer.symbolize(fixture, call_pc("ret_cxx"));
  EXPECT_EQ(&first, &again);
  symbolizer.symbolize({"/nonexistent/libgone.so", ""}, 1);
  symbolizer.symbolize({"/nonexistent/libgone.so", ""}, 2);
  EXPECT_EQ(symbolizer.stats().modules_opened, 2u);
  EXPECT_EQ(symbolizer.stats().addresses_resolved, 4u);
  EXPECT_EQ(symbolizer.warnings().size(), 1u);  // the missing module is reported once
}

TEST_F(SymbolizerTest, PrefetchedModulesGiveTheSameFramesAndWarningsInRequestOrder) {
  const std::string stripped = kFixture + "_stripped";
  const ModuleIdentity gone{"/nonexistent/libgone.so", ""}, unused{"/nonexistent/libunused.so", ""};
  // Without prefetching: the stripped copy's warning, then the missing module's.
  Symbolizer plain(options_);
  const std::vector<SourceFrame> expected = plain.symbolize({stripped, ""}, call_pc("ret_cxx"));
  plain.symbolize(gone, 3);
  const std::vector<SourceFrame> inlined = plain.symbolize({kFixture, ""}, call_pc("ret_inlined"));
  ASSERT_EQ(plain.warnings().size(), 2u);

  // Prefetched in the other order, plus one never asked for: its warning never shows.
  Symbolizer prefetching(options_);
  prefetching.prefetch(unused);
  prefetching.prefetch(gone);
  prefetching.prefetch({stripped, ""});
  prefetching.prefetch({kFixture, ""});
  prefetching.prefetch({kFixture, ""});  // twice: opened once
  EXPECT_TRUE(prefetching.warnings().empty());
  const auto& frames = prefetching.symbolize({stripped, ""}, call_pc("ret_cxx"));
  ASSERT_EQ(frames.size(), expected.size());
  EXPECT_EQ(frames[0].function, expected[0].function);
  prefetching.symbolize(gone, 3);
  const auto& inlined_again = prefetching.symbolize({kFixture, ""}, call_pc("ret_inlined"));
  ASSERT_EQ(inlined_again.size(), inlined.size());
  for (size_t i = 0; i < inlined.size(); ++i) {
    EXPECT_EQ(inlined_again[i].function, inlined[i].function);
    EXPECT_EQ(inlined_again[i].file, inlined[i].file);
    EXPECT_EQ(inlined_again[i].line, inlined[i].line);
    EXPECT_EQ(inlined_again[i].inlined, inlined[i].inlined);
  }
  EXPECT_EQ(prefetching.warnings(), plain.warnings());
  EXPECT_EQ(prefetching.stats().modules_opened, 3u);  // the unused one is not counted
}

// A Symbolizer gone before its prefetches end leaves them running on their own threads (the
// report of a trace without leaks does not wait for libc's debug info at exit); they neither
// crash nor disturb Symbolizers that open the same modules meanwhile or afterwards.
TEST_F(SymbolizerTest, PrefetchesOutliveTheirSymbolizerWithoutDisturbingOthers) {
  Symbolizer plain(options_);
  const std::vector<SourceFrame> expected = plain.symbolize({kFixture, ""}, call_pc("ret_inlined"));
  for (int i = 0; i < 8; ++i) {
    Symbolizer abandoning(options_);
    abandoning.prefetch({kFixture, ""});
    abandoning.prefetch({kFixture + "_stripped", ""});
  }
  Symbolizer later(options_);
  later.prefetch({kFixture + "_stripped", ""});
  const auto& frames = later.symbolize({kFixture, ""}, call_pc("ret_inlined"));  // not prefetched
  ASSERT_EQ(frames.size(), expected.size());
  for (size_t i = 0; i < frames.size(); ++i) {
    EXPECT_EQ(frames[i].function, expected[i].function);
    EXPECT_EQ(frames[i].line, expected[i].line);
  }
  EXPECT_EQ(later.stats().modules_opened, 1u);
}

TEST(DemangleTest, DemanglesOnlyMangledNames) {
  EXPECT_EQ(demangle("_ZN16heapline_fixture13compute_totalEi"),
            "heapline_fixture::compute_total(int)");
  EXPECT_EQ(demangle("f"), "f");  // would demangle to "float" if passed through blindly
  EXPECT_EQ(demangle("_Znot_valid"), "_Znot_valid");
  EXPECT_EQ(demangle(nullptr), "");
}

TEST(SourcePathTest, JoinsOnlyAbsoluteCompDirAndNormalises) {
  EXPECT_EQ(join_source_path("/build", "src/a.c"), "/build/src/a.c");
  EXPECT_EQ(join_source_path("/build/obj", "../src/./a.c"), "/build/src/a.c");
  EXPECT_EQ(join_source_path("/build", "/usr/include/stdio.h"), "/usr/include/stdio.h");
  // Relative comp_dir (Debian glibc: "./iconv"): libdw already applied it; never doubled.
  EXPECT_EQ(join_source_path("./iconv", "./iconv/gconv_db.c"), "iconv/gconv_db.c");
  EXPECT_EQ(join_source_path(nullptr, "a.c"), "a.c");
  EXPECT_EQ(join_source_path("/build", nullptr), "");
  EXPECT_EQ(join_source_path("/build", ""), "");
}

}  // namespace
}  // namespace heapline::analysis

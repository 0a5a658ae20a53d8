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

namespace heapline::analysis {
namespace {

namespace fs = std::filesystem;

const std::string kFixture = SYMBOLIZER_FIXTURE;
const std::string kCSource = SYMBOLIZER_FIXTURE_C_SOURCE;
const std::string kCxxSource = SYMBOLIZER_FIXTURE_CXX_SOURCE;

struct FixtureOutput {
  std::string build_id;
  std::map<std::string, uint64_t> addresses;
};

FixtureOutput run_fixture() {
  FixtureOutput output;
  FILE* pipe = popen(("'" + kFixture + "'").c_str(), "r");
  if (pipe == nullptr) return output;
  char buffer[256];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) {
    std::istringstream line(buffer);
    std::string key, value;
    line >> key >> value;
    if (key == "build_id") {
      output.build_id = value;
    } else if (!key.empty()) {
      output.addresses[key] = std::stoull(value, nullptr, 16);
    }
  }
  pclose(pipe);
  return output;
}

// 1-based line of the only line in `source` carrying "@marker" as a whole word.
uint32_t marker_line(const std::string& source, const std::string& marker) {
  std::ifstream in(source);
  std::string text;
  uint32_t number = 0, found = 0, hits = 0;
  while (std::getline(in, text)) {
    ++number;
    const size_t at = text.find("@" + marker);
    const size_t after = at + marker.size() + 1;
    if (at != std::string::npos &&
        (after == text.size() || !(std::isalnum(text[after]) || text[after] == '_'))) {
      found = number;
      ++hits;
    }
  }
  EXPECT_EQ(hits, 1u) << "marker @" << marker << " in " << source;
  return found;
}

std::string basename(const std::string& path) { return fs::path(path).filename().string(); }

bool has_warning_containing(const Symbolizer& symbolizer, const std::string& a,
                            const std::string& b) {
  for (const std::string& warning : symbolizer.warnings()) {
    if (warning.find(a) != std::string::npos && warning.find(b) != std::string::npos) return true;
  }
  return false;
}

class SymbolizerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // libdw would otherwise query debuginfod servers for anything it cannot find locally.
    unsetenv("DEBUGINFOD_URLS");
    fixture_ = new FixtureOutput(run_fixture());
  }
  static void TearDownTestSuite() {
    delete fixture_;
    fixture_ = nullptr;
  }

  void SetUp() override {
    ASSERT_EQ(fixture_->addresses.size(), 4u) << "fixture did not run: " << kFixture;
    ASSERT_EQ(fixture_->build_id.size(), 40u) << "fixture has no 20-byte build-id";
    // A private, empty debug root: no system debug file can change what these tests see.
    debug_root_ = fs::temp_directory_path() /
                  ("symbolizer_test_" + std::to_string(getpid()) + "_" +
                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(debug_root_);
    fs::create_directories(debug_root_);
    options_.debug_roots = {debug_root_.string()};
  }
  void TearDown() override { fs::remove_all(debug_root_); }

  // The fixture captured return addresses; the symbolizer's contract is that the caller
  // subtracts one so the pc lies inside the call instruction.
  static uint64_t call_pc(const std::string& key) { return fixture_->addresses.at(key) - 1; }

  // Places the fixture's separate debug file where a distribution would: .build-id/xx/rest.debug
  void install_build_id_debug_file() {
    const std::string& id = fixture_->build_id;
    const fs::path dir = debug_root_ / ".build-id" / id.substr(0, 2);
    fs::create_directories(dir);
    fs::copy_file(kFixture + ".debug", dir / (id.substr(2) + ".debug"));
  }

  // The fixture's inlined capture: scaled() inlined into fixture_inline_caller().
  void expect_inlined_frames(const std::vector<SourceFrame>& frames) {
    ASSERT_EQ(frames.size(), 2u);
    EXPECT_EQ(frames[0].function, "scaled");
    EXPECT_EQ(basename(frames[0].file), "symbolizer_fixture.c");
    EXPECT_EQ(frames[0].line, marker_line(kCSource, "inlined_body"));
    EXPECT_TRUE(frames[0].inlined);
    EXPECT_EQ(frames[1].function, "fixture_inline_caller");
    EXPECT_EQ(basename(frames[1].file), "symbolizer_fixture.c");
    EXPECT_EQ(frames[1].line, marker_line(kCSource, "inline_call_site"));
    EXPECT_FALSE(frames[1].inlined);
  }

  static FixtureOutput* fixture_;
  fs::path debug_root_;
  SymbolizerOptions options_;
};

FixtureOutput* SymbolizerTest::fixture_ = nullptr;

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

// The symbolizer fixture (tests/programs/symbolizer_fixture.{c,cpp}) as the symbolizer tests see
// it: the addresses it prints about itself, the "@marker" lines of its sources, and a test base
// with a private debug root. Shared by symbolizer_test.cpp and compressed_debug_test.cpp.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "symbolizer/symbolizer.h"

namespace heapline::analysis::testing_support {

namespace fs = std::filesystem;

inline const std::string kFixture = SYMBOLIZER_FIXTURE;
inline const std::string kCSource = SYMBOLIZER_FIXTURE_C_SOURCE;
inline const std::string kCxxSource = SYMBOLIZER_FIXTURE_CXX_SOURCE;

struct FixtureOutput {
  std::string build_id;
  std::map<std::string, uint64_t> addresses;
};

inline FixtureOutput run_fixture() {
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
inline uint32_t marker_line(const std::string& source, const std::string& marker) {
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

inline std::string basename(const std::string& path) { return fs::path(path).filename().string(); }

inline bool has_warning_containing(const Symbolizer& symbolizer, const std::string& a,
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
    options_.debug_cache_dir = "";  // nor can images kept by earlier runs (tests that want one set it)
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

  static inline FixtureOutput* fixture_ = nullptr;
  fs::path debug_root_;
  SymbolizerOptions options_;
};

}  // namespace heapline::analysis::testing_support

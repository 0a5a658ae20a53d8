// The symbolizer on compressed DWARF (SHF_COMPRESSED, zlib), as distributions ship debug files:
// its own inflate (inflated_debug_file.h) must give exactly what libdw's gives, and a corrupt or
// truncated file must degrade to symbol-table names with a warning, never crash. An image kept on
// disk (debug_image_cache.h) must give the same frames, and one that does not match the debug file
// must be replaced, not used. Also: a module without debug info must not make libdw dlopen
// libdebuginfod when no server is configured.
#include <dlfcn.h>
#include <elf.h>
#include <gtest/gtest.h>
#include <link.h>

#include <cstddef>
#include <cstring>
#include <optional>
#include <filesystem>
#include <iterator>
#include <fstream>
#include <string>
#include <vector>

#include "symbolizer/debug_image_cache.h"
#include "symbolizer/symbolizer.h"
#include "symbolizer_fixture.h"

namespace heapline::analysis {
namespace {

namespace fs = std::filesystem;
using namespace testing_support;

const std::vector<std::string> kCaptures = {"ret_inlined", "ret_cxx", "ret_plain_c", "entry_cxx"};

bool same_frames(const std::vector<SourceFrame>& a, const std::vector<SourceFrame>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].function != b[i].function || a[i].file != b[i].file || a[i].line != b[i].line ||
        a[i].column != b[i].column || a[i].inlined != b[i].inlined)
      return false;
  return true;
}

std::string describe(const std::vector<SourceFrame>& frames) {
  std::string text;
  for (const SourceFrame& f : frames)
    text += f.function + " " + f.file + ":" + std::to_string(f.line) + (f.inlined ? " (inlined)" : "") + "; ";
  return text;
}

// Offset and size of section `name` in the ELF64 file at `path` (0, 0 if absent).
std::pair<uint64_t, uint64_t> section_extent(const std::string& path, const std::string& name) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() < sizeof(Elf64_Ehdr)) return {0, 0};
  Elf64_Ehdr ehdr;
  std::memcpy(&ehdr, bytes.data(), sizeof ehdr);
  auto header = [&](size_t i) {
    Elf64_Shdr shdr;
    std::memcpy(&shdr, bytes.data() + ehdr.e_shoff + i * sizeof shdr, sizeof shdr);
    return shdr;
  };
  const Elf64_Shdr names = header(ehdr.e_shstrndx);
  for (size_t i = 1; i < ehdr.e_shnum; ++i) {
    const Elf64_Shdr shdr = header(i);
    if (name == bytes.data() + names.sh_offset + shdr.sh_name) return {shdr.sh_offset, shdr.sh_size};
  }
  return {0, 0};
}

class CompressedDebugTest : public SymbolizerTest {
 protected:
  // The zlib-compressed debug file, where a distribution puts it; returns its path.
  fs::path install_compressed_debug_file() {
    const std::string& id = fixture_->build_id;
    const fs::path dir = debug_root_ / ".build-id" / id.substr(0, 2);
    fs::create_directories(dir);
    const fs::path file = dir / (id.substr(2) + ".debug");
    fs::copy_file(kFixture + ".zlib.debug", file);
    return file;
  }

  // Every capture of the fixture, symbolized from `module` with and without our inflate.
  void expect_same_frames_either_way(const ModuleIdentity& module) {
    SymbolizerOptions libdw_inflates = options_;
    libdw_inflates.inflate_compressed_debug = false;
    libdw_inflates.index_functions = false;
    Symbolizer ours(options_), libdws(libdw_inflates), plain(options_);
    for (const std::string& capture : kCaptures) {
      const uint64_t pc = capture == "entry_cxx" ? fixture_->addresses.at(capture) : call_pc(capture);
      const auto& expected = plain.symbolize({kFixture, ""}, pc);  // uncompressed DWARF
      EXPECT_TRUE(same_frames(ours.symbolize(module, pc), expected))
          << capture << ": ours " << describe(ours.symbolize(module, pc)) << " expected "
          << describe(expected);
      EXPECT_TRUE(same_frames(libdws.symbolize(module, pc), expected)) << capture;
    }
    expect_inlined_frames(ours.symbolize(module, call_pc("ret_inlined")));
    EXPECT_EQ(ours.stats().inflated_images, 1u);  // the new path was really taken
    EXPECT_EQ(libdws.stats().inflated_images, 0u);
    EXPECT_TRUE(ours.warnings().empty()) << ours.warnings().front();
  }
};

TEST_F(CompressedDebugTest, CompressedBuildIdDebugFileGivesTheUncompressedFrames) {
  ASSERT_NE(section_extent(kFixture + ".zlib.debug", ".debug_info").second, 0u);
  install_compressed_debug_file();
  expect_same_frames_either_way({kFixture + "_stripped", fixture_->build_id});
}

TEST_F(CompressedDebugTest, ProgramWithCompressedDwarfGivesTheUncompressedFrames) {
  expect_same_frames_either_way({kFixture + "_zlib", fixture_->build_id});
}

TEST_F(CompressedDebugTest, CorruptCompressedSectionFallsBackToSymbolNames) {
  const fs::path file = install_compressed_debug_file();
  const auto [offset, size] = section_extent(file.string(), ".debug_info");
  ASSERT_GT(size, 256u);
  {
    std::fstream io(file, std::ios::in | std::ios::out | std::ios::binary);
    io.seekp(static_cast<std::streamoff>(offset + size / 2));
    const std::string garbage(64, '\xff');
    io.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  Symbolizer symbolizer(options_);
  const std::string stripped = kFixture + "_stripped";
  const auto& frames = symbolizer.symbolize({stripped, fixture_->build_id}, call_pc("ret_inlined"));
  ASSERT_EQ(frames.size(), 1u) << describe(frames);
  EXPECT_EQ(frames[0].function, "fixture_inline_caller");
  EXPECT_EQ(frames[0].file, "");
  EXPECT_EQ(frames[0].line, 0u);
  EXPECT_EQ(symbolizer.symbolize({stripped, fixture_->build_id}, call_pc("ret_cxx"))[0].function,
            "heapline_fixture::compute_total(int)");
  EXPECT_TRUE(has_warning_containing(symbolizer, ".debug_info", "does not inflate"));
  EXPECT_TRUE(has_warning_containing(symbolizer, stripped, "symbol-table names only"));
  EXPECT_EQ(symbolizer.warnings().size(), 1u);
  EXPECT_EQ(symbolizer.stats().inflated_images, 0u);
}

TEST_F(CompressedDebugTest, TruncatedDebugFileFallsBackToSymbolNames) {
  const fs::path file = install_compressed_debug_file();
  fs::resize_file(file, fs::file_size(file) / 2);
  Symbolizer symbolizer(options_);
  const std::string stripped = kFixture + "_stripped";
  const auto& frames = symbolizer.symbolize({stripped, fixture_->build_id}, call_pc("ret_cxx"));
  ASSERT_EQ(frames.size(), 1u) << describe(frames);
  EXPECT_EQ(frames[0].function, "heapline_fixture::compute_total(int)");
  EXPECT_EQ(frames[0].file, "");
  EXPECT_TRUE(has_warning_containing(symbolizer, stripped, "debug info"));
}

TEST_F(CompressedDebugTest, NoDebuginfodLoadedWithoutServers) {
  // The stripped copy has no DWARF and nothing on disk can hold its debug info: libdwfl's own
  // search would now dlopen libdebuginfod (and libcurl, gnutls...) to ask no server.
  ASSERT_EQ(getenv("DEBUGINFOD_URLS"), nullptr);
  Symbolizer symbolizer(options_);
  EXPECT_EQ(symbolizer.symbolize({kFixture + "_stripped", ""}, call_pc("ret_cxx"))[0].function,
            "heapline_fixture::compute_total(int)");
  EXPECT_TRUE(has_warning_containing(symbolizer, "_stripped", "no debug info"));
  EXPECT_EQ(dlopen("libdebuginfod.so.1", RTLD_NOW | RTLD_NOLOAD), nullptr);
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

class DebugImageCacheTest : public CompressedDebugTest {
 protected:
  void SetUp() override {
    CompressedDebugTest::SetUp();
    options_.debug_cache_dir = (debug_root_ / "cache").string();
    options_.debug_cache_min_bytes = 0;  // the fixture's image is a few KiB
    install_compressed_debug_file();
  }
  fs::path kept_image() const {
    return DebugImageCache(options_.debug_cache_dir).path_for(fixture_->build_id);
  }
  // Symbolizes every capture through a fresh Symbolizer; returns its stats.
  Symbolizer::Stats symbolize_all_and_compare() {
    Symbolizer cached(options_);
    SymbolizerOptions uncompressed = options_;
    uncompressed.debug_cache_dir = "";
    Symbolizer plain(uncompressed);
    const ModuleIdentity module{kFixture + "_stripped", fixture_->build_id};
    for (const std::string& capture : kCaptures) {
      const uint64_t pc = capture == "entry_cxx" ? fixture_->addresses.at(capture) : call_pc(capture);
      const auto& expected = plain.symbolize({kFixture, ""}, pc);
      EXPECT_TRUE(same_frames(cached.symbolize(module, pc), expected))
          << capture << ": " << describe(cached.symbolize(module, pc)) << " expected "
          << describe(expected);
    }
    EXPECT_TRUE(cached.warnings().empty()) << cached.warnings().front();
    return cached.stats();
  }
};

TEST_F(DebugImageCacheTest, FirstRunKeepsTheImageAndTheNextReadsItWithTheSameFrames) {
  ASSERT_FALSE(fs::exists(kept_image()));
  const Symbolizer::Stats first = symbolize_all_and_compare();
  EXPECT_EQ(first.inflated_images, 1u);
  EXPECT_EQ(first.cached_images, 0u);
  ASSERT_TRUE(fs::exists(kept_image()));
  // The kept image is the rewritten ELF: as big as the uncompressed debug file or a little less
  // (the sections nobody reads are left empty), and no temporary file is left beside it.
  EXPECT_GT(fs::file_size(kept_image()), fs::file_size(kFixture + ".zlib.debug"));
  EXPECT_EQ(read_file(kept_image()).substr(0, 4), "\x7f" "ELF");
  EXPECT_EQ(std::distance(fs::directory_iterator(kept_image().parent_path()),
                          fs::directory_iterator()),
            1);

  const Symbolizer::Stats second = symbolize_all_and_compare();
  EXPECT_EQ(second.inflated_images, 1u);
  EXPECT_EQ(second.cached_images, 1u);  // read from the disk, nothing inflated
}

TEST_F(DebugImageCacheTest, ImageThatDoesNotMatchTheDebugFileIsReplacedNotUsed) {
  symbolize_all_and_compare();
  const std::string good = read_file(kept_image());
  ASSERT_GT(good.size(), 64u);
  // Same size, but one section header differs (as after the debug file was rebuilt with the
  // same build-id): the headers check must refuse it.
  std::string stale = good;
  Elf64_Ehdr ehdr;
  std::memcpy(&ehdr, stale.data(), sizeof ehdr);
  ASSERT_LT(ehdr.e_shoff + 2 * sizeof(Elf64_Shdr), stale.size());
  stale[ehdr.e_shoff + sizeof(Elf64_Shdr) + offsetof(Elf64_Shdr, sh_size)] ^= 0x10;
  std::ofstream(kept_image(), std::ios::binary | std::ios::trunc) << stale;
  Symbolizer::Stats stats = symbolize_all_and_compare();
  EXPECT_EQ(stats.cached_images, 0u);
  EXPECT_EQ(read_file(kept_image()), good);  // replaced by a fresh image

  // A kept file of another size (cut short by a crash of some other tool, say) is not mapped.
  fs::resize_file(kept_image(), good.size() / 2);
  stats = symbolize_all_and_compare();
  EXPECT_EQ(stats.cached_images, 0u);
  EXPECT_EQ(read_file(kept_image()), good);
}

TEST_F(DebugImageCacheTest, UnwritableCacheCostsOnlyTheInflation) {
  // The cache directory's parent is a regular file: nothing can be created under it.
  const fs::path blocker = debug_root_ / "not-a-directory";
  std::ofstream(blocker) << "x";
  options_.debug_cache_dir = (blocker / "cache").string();
  for (int run = 0; run < 2; ++run) {
    const Symbolizer::Stats stats = symbolize_all_and_compare();
    EXPECT_EQ(stats.inflated_images, 1u);
    EXPECT_EQ(stats.cached_images, 0u);
  }
}

TEST(DebugImageCacheDirectoryTest, ComesFromTheEnvironment) {
  auto saved = [](const char* name) {
    const char* value = getenv(name);
    return value ? std::optional<std::string>(value) : std::nullopt;
  };
  const auto cache_dir = saved("HEAPLINE_CACHE_DIR"), xdg = saved("XDG_CACHE_HOME"),
             home = saved("HOME");
  setenv("HEAPLINE_CACHE_DIR", "/tmp/elsewhere", 1);
  setenv("XDG_CACHE_HOME", "/xdg", 1);
  setenv("HOME", "/home/someone", 1);
  EXPECT_EQ(DebugImageCache::directory_from_environment(), "/tmp/elsewhere");
  setenv("HEAPLINE_CACHE_DIR", "", 1);
  EXPECT_EQ(DebugImageCache::directory_from_environment(), "");  // set and empty: no cache
  unsetenv("HEAPLINE_CACHE_DIR");
  EXPECT_EQ(DebugImageCache::directory_from_environment(), "/xdg/heapline");
  setenv("XDG_CACHE_HOME", "relative", 1);  // not absolute: ignored, as the XDG spec says
  EXPECT_EQ(DebugImageCache::directory_from_environment(), "/home/someone/.cache/heapline");
  unsetenv("XDG_CACHE_HOME");
  EXPECT_EQ(DebugImageCache::directory_from_environment(), "/home/someone/.cache/heapline");
  EXPECT_EQ(DebugImageCache("/c").path_for("abcd"), "/c/debug/abcd.v1.debug");
  auto restore = [](const char* name, const std::optional<std::string>& value) {
    if (value) setenv(name, value->c_str(), 1);
    else unsetenv(name);
  };
  restore("HEAPLINE_CACHE_DIR", cache_dir);
  restore("XDG_CACHE_HOME", xdg);
  restore("HOME", home);
}

// This process's libc, as the recorder would describe it.
struct LoadedLibc {
  std::string path, build_id;
  uint64_t text_start = 0, text_end = 0;  // ELF vaddrs of its executable segment
};

LoadedLibc find_libc() {
  LoadedLibc libc;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        auto* out = static_cast<LoadedLibc*>(data);
        const std::string name = info->dlpi_name != nullptr ? info->dlpi_name : "";
        if (name.find("/libc.so") == std::string::npos) return 0;
        out->path = name;
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr)& ph = info->dlpi_phdr[i];
          if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X)) {
            out->text_start = ph.p_vaddr;
            out->text_end = ph.p_vaddr + ph.p_memsz;
          }
          if (ph.p_type != PT_NOTE) continue;
          const char* at = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
          const char* end = at + ph.p_memsz;
          while (at + sizeof(ElfW(Nhdr)) <= end) {
            const auto* note = reinterpret_cast<const ElfW(Nhdr)*>(at);
            const char* desc = at + sizeof *note + ((note->n_namesz + 3) & ~3u);
            if (note->n_type == NT_GNU_BUILD_ID) {
              static const char kHex[] = "0123456789abcdef";
              for (size_t b = 0; b < note->n_descsz; ++b) {
                out->build_id += kHex[static_cast<unsigned char>(desc[b]) >> 4];
                out->build_id += kHex[static_cast<unsigned char>(desc[b]) & 15];
              }
            }
            at = desc + ((note->n_descsz + 3) & ~3u);
          }
        }
        return 1;
      },
      &libc);
  return libc;
}

// libc6-dbg's debug file is compressed: hundreds of libc pcs, inlined frames and all, must come
// out of our inflate and function index exactly as out of libdw's inflate and scope walks.
TEST(CompressedLibcTest, LibcFramesMatchLibdwsOwnInflate) {
  unsetenv("DEBUGINFOD_URLS");
  const LoadedLibc libc = find_libc();
  ASSERT_FALSE(libc.path.empty());
  ASSERT_GT(libc.text_end, libc.text_start);
  const std::string debug_file = "/usr/lib/debug/.build-id/" + libc.build_id.substr(0, 2) + "/" +
                                 libc.build_id.substr(2) + ".debug";
  if (libc.build_id.size() < 4 || !fs::exists(debug_file))
    GTEST_SKIP() << "no debug file for this libc (package libc6-dbg): " << debug_file;
  if (section_extent(debug_file, ".debug_info").second == 0)
    GTEST_SKIP() << debug_file << " has no .debug_info";

  SymbolizerOptions no_cache;
  no_cache.debug_cache_dir = "";
  SymbolizerOptions libdw_inflates = no_cache;
  libdw_inflates.inflate_compressed_debug = false;
  libdw_inflates.index_functions = false;
  // Ours three times: inflating with no cache, inflating into a fresh cache, read from it.
  const fs::path cache = fs::temp_directory_path() / ("libc_image_cache_" + std::to_string(getpid()));
  fs::remove_all(cache);
  SymbolizerOptions cached = no_cache;
  cached.debug_cache_dir = cache.string();
  Symbolizer libdws(libdw_inflates), ours(no_cache), storing(cached), reading(cached);
  const ModuleIdentity module{libc.path, libc.build_id};
  size_t with_file = 0, inlined = 0;
  const uint64_t step = (libc.text_end - libc.text_start) / 500 | 1;
  for (Symbolizer* symbolizer : {&ours, &storing, &reading}) {
    for (uint64_t pc = libc.text_start + 7; pc < libc.text_end; pc += step) {
      const auto& mine = symbolizer->symbolize(module, pc);
      const auto& theirs = libdws.symbolize(module, pc);
      ASSERT_TRUE(same_frames(mine, theirs)) << std::hex << pc << ": ours " << describe(mine)
                                             << " libdw " << describe(theirs);
      with_file += !mine.front().file.empty();
      inlined += mine.front().inlined;
    }
    EXPECT_EQ(symbolizer->stats().inflated_images, 1u);
    EXPECT_EQ(symbolizer->warnings(), libdws.warnings());
  }
  EXPECT_GT(with_file, 3 * 400u);  // DWARF really answered, not the symbol table
  EXPECT_GT(inlined, 3 * 10u);
  EXPECT_EQ(libdws.stats().inflated_images, 0u);
  EXPECT_EQ(ours.stats().cached_images, 0u);
  EXPECT_EQ(storing.stats().cached_images, 0u);
  EXPECT_EQ(reading.stats().cached_images, 1u);
  fs::remove_all(cache);
}

}  // namespace
}  // namespace heapline::analysis

// The symbolizer on compressed DWARF (SHF_COMPRESSED, zlib), as distributions ship debug files:
// its own inflate (inflated_debug_file.h) must give exactly what libdw's gives, and a corrupt or
// truncated file must degrade to symbol-table names with a warning, never crash. Also: a module
// without debug info must not make libdw dlopen libdebuginfod when no server is configured.
#include <dlfcn.h>
#include <elf.h>
#include <gtest/gtest.h>
#include <link.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

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
// out of our inflate exactly as out of libdw's.
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

  SymbolizerOptions libdw_inflates;
  libdw_inflates.inflate_compressed_debug = false;
  Symbolizer ours, libdws(libdw_inflates);
  const ModuleIdentity module{libc.path, libc.build_id};
  size_t with_file = 0, inlined = 0;
  const uint64_t step = (libc.text_end - libc.text_start) / 500 | 1;
  for (uint64_t pc = libc.text_start + 7; pc < libc.text_end; pc += step) {
    const auto& mine = ours.symbolize(module, pc);
    const auto& theirs = libdws.symbolize(module, pc);
    ASSERT_TRUE(same_frames(mine, theirs)) << std::hex << pc << ": ours " << describe(mine)
                                           << " libdw " << describe(theirs);
    with_file += !mine.front().file.empty();
    inlined += mine.front().inlined;
  }
  EXPECT_GT(with_file, 400u);  // DWARF really answered, not the symbol table
  EXPECT_GT(inlined, 10u);
  EXPECT_EQ(ours.stats().inflated_images, 1u);
  EXPECT_EQ(libdws.stats().inflated_images, 0u);
  EXPECT_EQ(ours.warnings(), libdws.warnings());
}

}  // namespace
}  // namespace heapline::analysis

// ModuleDebugInfo: one module's ELF opened through libdwfl, plus the build-id checks and the
// separate-debug-file search that decide which file on disk we trust for it.
//
// Why libdwfl (offline) rather than dwarf_begin_elf on the file directly: dwfl's standard
// find_debuginfo callback already implements the whole separate-debug-info convention
// (.gnu_debuglink with CRC check, <root>/.build-id/xx/rest.debug, <root>/<dir>/name.debug,
// DWZ alt files, and debuginfod when the user set DEBUGINFOD_URLS), and dwfl_module_addrinfo
// searches .symtab, .dynsym and the .gnu_debugdata mini-debuginfo for the no-DWARF fallback.
// With dwarf_begin_elf we would re-implement all of that, badly.
//
// Opening is split in two, because only the second step is costly (libc's DWARF: 10 MB to
// inflate) and a report that shows no frame of a module still needs its warnings:
//  - open() reports the ELF, checks build-ids and finds which file holds the DWARF (the module
//    itself, or its build-id debug file: see debug_file_search.h) and whether it has any. That
//    decides the module's warnings, at the cost of reading a few headers.
//  - load_dwarf() reads the DWARF. When that file's sections are zlib-compressed, it inflates them
//    itself into an image (inflated_debug_file.h) reported in a second Dwfl that serves the DWARF
//    lookups, while the first keeps serving symbols from the same files as before.
#pragma once

#include <elfutils/libdwfl.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "function_index.h"
#include "inflated_debug_file.h"
#include "symbolizer.h"

namespace heapline::analysis {

class ModuleDebugInfo {
 public:
  struct OpenResult {
    std::unique_ptr<ModuleDebugInfo> module;  // null: nothing usable, show module+offset
    std::vector<std::string> warnings;        // one line each, ready for the report
  };

  // Opens the file at identity.path if its build-id matches (or none is expected), else the
  // debug file <root>/.build-id/xx/rest.debug carrying the expected build-id. Never throws for
  // bad input: missing, unreadable, non-ELF files all end up as warnings.
  static OpenResult open(const ModuleIdentity& identity, const SymbolizerOptions& options);

  ~ModuleDebugInfo();
  ModuleDebugInfo(const ModuleDebugInfo&) = delete;
  ModuleDebugInfo& operator=(const ModuleDebugInfo&) = delete;

  // Reads the DWARF if open() found some (once; later calls return nothing). Returns warnings:
  // a compressed section that does not inflate, or DWARF that libdw refuses after open() found
  // its sections. Stops early, as if there were no DWARF, once `*cancel` is true.
  std::vector<std::string> load_dwarf(const std::atomic<bool>* cancel = nullptr);

  bool has_dwarf() const { return has_dwarf_; }
  // True once load_dwarf() reads the DWARF from an inflated copy of its file.
  bool reads_inflated_image() const { return dwarf_module_ != nullptr; }
  // ...that was kept on disk by an earlier run (debug_image_cache.h), not inflated now.
  bool reads_cached_image() const { return reads_inflated_image() && image_.mapped_from_file(); }

  // The module and address that inline_frames() takes for `elf_vaddr`, once load_dwarf() ran and
  // found DWARF; nullopt outside the module.
  Dwfl_Module* dwarf_module() const { return dwarf_module_ != nullptr ? dwarf_module_ : module_; }
  std::optional<Dwarf_Addr> dwarf_address(uint64_t elf_vaddr) const;
  // The index of the functions of dwarf_module()'s units, filled as they are first used.
  FunctionIndex* function_index() const { return &function_index_; }

  // The dwfl address of `elf_vaddr` for symbol_name(), or nullopt when it lies outside the
  // module's loadable segments (a garbage pc, or one that really belongs to another module).
  std::optional<Dwarf_Addr> dwfl_address(uint64_t elf_vaddr) const;

  // Demangled ELF symbol covering `dwfl_addr`, "" if no symbol does.
  std::string symbol_name(Dwarf_Addr dwfl_addr) const;

  // The set-up every lookup in this module starts with, done now: libdwfl's table of the units'
  // address ranges (built on the first dwfl_module_addrdie: libc's was 9 M instructions of a
  // python3 report's main thread after the reading), or for a module without DWARF the sorted
  // ELF symbols. A prefetch thread calls this after load_dwarf(), while the report's threads are
  // still reading the trace.
  void prepare_lookups() const;

 private:
  ModuleDebugInfo(const std::string& debuginfo_path);

  // Where the module's DWARF is, as open() found it.
  enum class DwarfSource {
    kNone,      // nowhere: the debuglink search can find nothing and debuginfod is not set up
    kFile,      // dwarf_file_ (the module itself, or its build-id debug file)
    kLoaded,    // unknown to us: libdwfl's own search already ran in open(), DWARF loaded or not
  };

  // Reports `path` into this object's Dwfl. Returns "" on success, else why it failed.
  std::string report(const std::string& path);
  std::string build_id_hex() const;
  void find_dwarf(const SymbolizerOptions& options);
  bool report_inflated(InflatedDebugFile& inflated);

  // dwfl's find_debuginfo callback: hands over the debug file find_dwarf() chose, so that dwfl
  // does not search (nor dlopen debuginfod) again.
  static int find_debuginfo(Dwfl_Module* module, void** userdata, const char* name,
                            Dwarf_Addr base, const char* file_name, const char* debuglink,
                            GElf_Word debuglink_crc, char** debuginfo_file_name);

  // dwfl_begin keeps pointers to the callbacks and to the debuginfo_path string: both live here,
  // in a heap object that never moves, for as long as the Dwfl.
  std::string debuginfo_path_;
  char* debuginfo_path_ptr_ = nullptr;
  Dwfl_Callbacks callbacks_{};
  Dwfl* dwfl_ = nullptr;
  Dwfl_Module* module_ = nullptr;
  Dwarf_Addr bias_ = 0;  // dwfl address - ELF vaddr of the main file (0 as we report it)
  Dwarf_Addr start_ = 0, end_ = 0;
  bool has_dwarf_ = false;

  DwarfSource dwarf_source_ = DwarfSource::kNone;
  std::string dwarf_file_;        // kFile: its path
  int debug_fd_ = -1;             // kFile and a separate debug file: open on it, for the callback
  bool dwarf_loaded_ = false;
  bool inflate_ = true;           // SymbolizerOptions::inflate_compressed_debug
  DebugImageCache cache_;         // SymbolizerOptions::debug_cache_dir

  // The inflated copy of dwarf_file_ and the Dwfl that reads it (see the file comment).
  ElfImage image_;
  Dwfl* image_dwfl_ = nullptr;
  Dwfl_Module* dwarf_module_ = nullptr;
  Dwarf_Addr dwarf_bias_ = 0, dwarf_start_ = 0, dwarf_end_ = 0;
  mutable FunctionIndex function_index_;  // a cache: symbolizing is logically const

  // Function symbols sorted by address, built on the first symbol_name() call.
  struct Symbol {
    Dwarf_Addr address;
    GElf_Xword size;
    const char* name;  // owned by the Dwfl
  };
  mutable std::vector<Symbol> symbols_;
  mutable bool symbols_built_ = false;
  void build_symbol_index() const;
};

}  // namespace heapline::analysis

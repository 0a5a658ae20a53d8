// ModuleDebugInfo: one module's ELF opened through libdwfl, plus the build-id checks and the
// separate-debug-file search that decide which file on disk we trust for it.
//
// Why libdwfl (offline) rather than dwarf_begin_elf on the file directly: dwfl's standard
// find_debuginfo callback already implements the whole separate-debug-info convention
// (.gnu_debuglink with CRC check, <root>/.build-id/xx/rest.debug, <root>/<dir>/name.debug,
// DWZ alt files, and debuginfod when the user set DEBUGINFOD_URLS), and dwfl_module_addrinfo
// searches .symtab, .dynsym and the .gnu_debugdata mini-debuginfo for the no-DWARF fallback.
// With dwarf_begin_elf we would re-implement all of that, badly.
#pragma once

#include <elfutils/libdwfl.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

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

  Dwfl_Module* module() const { return module_; }
  bool has_dwarf() const { return has_dwarf_; }

  // The dwfl address of `elf_vaddr`, or nullopt when it lies outside the module's loadable
  // segments (a garbage pc, or one that really belongs to another module).
  std::optional<Dwarf_Addr> dwfl_address(uint64_t elf_vaddr) const;

  // Demangled ELF symbol covering `dwfl_addr`, "" if no symbol does.
  std::string symbol_name(Dwarf_Addr dwfl_addr) const;

 private:
  ModuleDebugInfo(const std::string& debuginfo_path);

  // Reports `path` into this object's Dwfl. Returns "" on success, else why it failed.
  std::string report(const std::string& path);
  std::string build_id_hex() const;

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

  // Function symbols sorted by address, built on the first symbol_name() call.
  struct Symbol {
    Dwarf_Addr address;
    GElf_Xword size;
    const char* name;  // owned by the Dwfl
  };
  mutable std::vector<Symbol> symbols_;
  mutable bool symbols_built_ = false;
};

}  // namespace heapline::analysis

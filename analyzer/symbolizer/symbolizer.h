// Symbolizer: turns (module, ELF virtual address) into source frames, inlined frames included.
//
// The recorder writes raw addresses plus the identity of each loaded module (path, build-id);
// this class is the only place in heapline that reads DWARF. Everything is cached: a module is
// opened once, an address is symbolized once, so symbolizing every frame of every stack of a
// long trace costs one libdw lookup per distinct pc.
//
// Not thread-safe: one Symbolizer per analysis thread (libdw handles are not shareable anyway).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "symbolizer/debug_image_cache.h"

namespace heapline::analysis {

struct SourceFrame {
  std::string function;  // demangled (abi::__cxa_demangle), or symbol-table name, or "" if unknown
  std::string file;      // absolute path when DWARF gives comp_dir + relative name; "" if unknown
  uint32_t line = 0;     // 0 if unknown
  uint32_t column = 0;
  bool inlined = false;  // true for a frame that exists only because of inlining
};

struct ModuleIdentity {
  std::string path;      // path of the ELF as it was loaded in the target
  std::string build_id;  // lowercase hex of NT_GNU_BUILD_ID, may be empty
};

struct SymbolizerOptions {
  // Roots of separate debug-info trees, searched as <root>/.build-id/xx/rest.debug and as
  // <root>/<dir of module>/<debuglink name>. Tests point this at a temporary directory.
  std::vector<std::string> debug_roots = {"/usr/lib/debug"};
  // Inflate zlib-compressed DWARF sections ahead of libdw (inflated_debug_file.h). Off: libdw
  // inflates them itself, as it would without heapline's help; tests compare the two.
  bool inflate_compressed_debug = true;
  // Where inflated images are kept between runs (debug_image_cache.h); "" keeps none.
  std::string debug_cache_dir = DebugImageCache::directory_from_environment();
  size_t debug_cache_min_bytes = DebugImageCache::kDefaultMinBytes;  // tests cache small images
  // Find the scopes around a pc through an index of each unit's functions (function_index.h).
  // Off: libdw's walk from the unit's root for every pc; tests compare the two.
  bool index_functions = true;
};

class ModuleDebugInfo;  // one opened ELF (+ its separate debug file), see module_debug_info.h

class Symbolizer {
 public:
  explicit Symbolizer(SymbolizerOptions options = {});
  ~Symbolizer();
  Symbolizer(const Symbolizer&) = delete;
  Symbolizer& operator=(const Symbolizer&) = delete;

  // elf_vaddr is an address in the ELF's own virtual address space (runtime pc minus the module's
  // load bias; the CALLER has already subtracted 1 from return addresses).
  // Returns the frames for that address, innermost first: for an address inside code inlined into
  // f, the first frame(s) are the inlined function(s) (inlined=true) with their file:line, and the
  // last frame is f itself (inlined=false) whose line is the line of the call site of the outermost
  // inlined call. Never empty: a module without debug info yields the ELF symbol-table name (with
  // file empty), and an unknown address/missing module yields function = "<basename>+0x<hex vaddr>".
  // The reference stays valid for the Symbolizer's lifetime.
  const std::vector<SourceFrame>& symbolize(const ModuleIdentity& module, uint64_t elf_vaddr);

  // The same through a handle: a caller that symbolizes many addresses of one module asks for its
  // handle once (the module is opened then) and skips building and hashing the identity's key on
  // every address, which cost more than the cached lookup itself on deep stacks.
  using ModuleHandle = size_t;
  ModuleHandle module_handle(const ModuleIdentity& module);
  const std::vector<SourceFrame>& symbolize(ModuleHandle module, uint64_t elf_vaddr);

  // Starts opening `module` on a background thread, for a caller that will almost surely ask for
  // it later: its debug info then loads while the caller does other work (reading the trace).
  // Opening libc's separate debug file (compressed DWARF) costs ~230 M instructions with libdw's
  // own inflate, as much as reading a trace of a million events, and every leak's stack has a
  // libc frame at its root.
  // Nothing shows until the module is asked for: its warnings then come in the order they would
  // have without the prefetch, and a prefetched module never asked for changes no output.
  // Asking for a prefetched module waits for the cheap first step of its prefetch only (finding
  // its files, which decides its warnings); symbolizing an address in it waits for its DWARF.
  // Other modules open on the caller's thread meanwhile (each module has its own Dwfl, Elf and
  // Dwarf handles, and libdw and libelf keep no shared mutable state between handles; their
  // error codes are thread-local).
  // A prefetch never asked for is not waited for at all: the Symbolizer's destructor leaves it to
  // finish on its own, and tells it to stop inflating (a report without leaks waited ~45 ms at
  // exit for libc's debug info it never needed: nine tenths of the report of a short run).
  void prefetch(const ModuleIdentity& module);

  // Non-fatal problems met so far (module missing on disk, build-id mismatch, no debug info), one
  // line each, deduplicated, for the report to show.
  const std::vector<std::string>& warnings() const { return warnings_; }

  // Cache counters, so tests (and a --verbose report) can see that the caches work.
  struct Stats {
    size_t modules_opened = 0;       // distinct (path, build_id) pairs opened
    size_t addresses_resolved = 0;   // distinct (module, address) pairs looked up in libdw
    size_t inflated_images = 0;      // modules whose DWARF is read from an inflated copy
    size_t cached_images = 0;        // ...of which the copy was kept on disk by an earlier run
  };
  Stats stats() const { return stats_; }

 private:
  struct Prefetch;  // a module being opened in the background (symbolizer.cpp)

  // Per module: the opened debug info (null when no usable file was found) and the address cache.
  // Node-based maps keep the returned vector references stable across rehashing.
  struct ModuleEntry {
    std::unique_ptr<ModuleDebugInfo> debug_info;
    std::string basename;
    std::unordered_map<uint64_t, std::vector<SourceFrame>> frames_by_address;
    ModuleHandle handle = SIZE_MAX;  // its index in handles_, once module_handle() gave one
    // Its DWARF is read on the first address asked for, not when the module is opened: until
    // then, a prefetch may still be reading it (`loading`, which then holds debug_info).
    std::shared_ptr<Prefetch> loading;
    bool dwarf_loaded = false;
  };

  ModuleEntry& module_entry(const ModuleIdentity& module);
  void load_dwarf(ModuleEntry& entry);
  const std::vector<SourceFrame>& symbolize(ModuleEntry& entry, uint64_t elf_vaddr);
  std::vector<SourceFrame> resolve(const ModuleEntry& entry, uint64_t elf_vaddr) const;
  void warn(std::string message);

  SymbolizerOptions options_;
  std::unordered_map<std::string, ModuleEntry> modules_;  // key: path + '\0' + build_id
  std::vector<ModuleEntry*> handles_;  // ModuleHandle -> entry (nodes of modules_ never move)
  std::vector<std::string> warnings_;
  std::unordered_set<std::string> warned_;
  Stats stats_;
  std::unordered_map<std::string, std::shared_ptr<Prefetch>> prefetched_;  // same keys as modules_
};

}  // namespace heapline::analysis

// Symbolizer: the two caches and the fallback chain DWARF -> symbol table -> module+offset.
// Opening files and reading DWARF live in module_debug_info.cpp and inline_frames.cpp.
#include "symbolizer.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <cinttypes>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "inline_frames.h"
#include "module_debug_info.h"

namespace heapline::analysis {
namespace {

// "<basename>+0x<hex vaddr>": what perf and pprof print for an address nobody can name, and
// enough for a human to run addr2line by hand once the right binary is found.
std::string module_offset_name(const std::string& basename, uint64_t elf_vaddr) {
  char hex[2 + 16 + 1];
  std::snprintf(hex, sizeof hex, "0x%" PRIx64, elf_vaddr);
  return basename + "+" + hex;
}

std::string basename_of(const std::string& path) {
  std::string base = std::filesystem::path(path).filename().string();
  if (!base.empty()) return base;
  return path.empty() ? std::string("unknown") : path;
}

std::string module_key(const ModuleIdentity& module) {
  std::string key = module.path;
  key += '\0';  // cannot occur in a path, so (path, build_id) pairs never collide
  key += module.build_id;
  return key;
}

}  // namespace

// A module opened on its own thread: open() first (its warnings, cheap), then its DWARF.
struct Symbolizer::Prefetch {
  std::mutex mutex;
  std::condition_variable changed;
  bool opened = false;  // open() returned: `failed` and `warnings` are set
  bool loaded = false;  // load_dwarf() returned too: `module` and `load_warnings` are set
  bool failed = false;  // open() threw (out of memory): open it again when asked for
  std::vector<std::string> warnings;
  std::unique_ptr<ModuleDebugInfo> module;
  std::vector<std::string> load_warnings;
  std::atomic<bool> abandoned{false};  // nobody will ask for it: stop inflating

  void wait_until(const bool& flag) {
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return flag; });
  }
};

Symbolizer::Symbolizer(SymbolizerOptions options) : options_(std::move(options)) {}

// A prefetch still running is not waited for: its thread owns its slot and ends on its own (or
// with the process), sooner for being told that its DWARF is wanted no more.
Symbolizer::~Symbolizer() {
  for (auto& [key, prefetch] : prefetched_) prefetch->abandoned = true;
  for (auto& [key, entry] : modules_)
    if (entry.loading != nullptr) entry.loading->abandoned = true;
}

void Symbolizer::prefetch(const ModuleIdentity& module) {
  std::string key = module_key(module);
  if (modules_.count(key) || prefetched_.count(key)) return;
  auto p = std::make_shared<Prefetch>();
  // The thread owns what it uses (a copy of the options, a share of its slot): the Symbolizer
  // may be gone before it ends.
  std::thread([p, module, options = options_] {
    ModuleDebugInfo::OpenResult result;
    bool failed = false;
    try {
      result = ModuleDebugInfo::open(module, options);
    } catch (...) {
      failed = true;
    }
    {
      std::lock_guard lock(p->mutex);
      p->warnings = std::move(result.warnings);
      p->failed = failed;
      p->opened = true;
    }
    p->changed.notify_all();
    // The asker may now take the warnings and go on; it waits for `loaded` only when it needs a
    // frame of this module (a text report may need none of libc's).
    std::vector<std::string> load_warnings;
    if (result.module != nullptr) {
      try {
        load_warnings = result.module->load_dwarf(&p->abandoned);
        if (!p->abandoned) result.module->prepare_lookups();
      } catch (...) {
        // out of memory while loading: the module's DWARF stays unread, its symbols still work
      }
    }
    {
      std::lock_guard lock(p->mutex);
      p->module = std::move(result.module);
      p->load_warnings = std::move(load_warnings);
      p->loaded = true;
    }
    p->changed.notify_all();
  }).detach();
  prefetched_.emplace(std::move(key), std::move(p));
}

const std::vector<SourceFrame>& Symbolizer::symbolize(const ModuleIdentity& module,
                                                      uint64_t elf_vaddr) {
  return symbolize(module_entry(module), elf_vaddr);
}

Symbolizer::ModuleHandle Symbolizer::module_handle(const ModuleIdentity& module) {
  ModuleEntry& entry = module_entry(module);
  if (entry.handle == SIZE_MAX) {
    entry.handle = handles_.size();
    handles_.push_back(&entry);
  }
  return entry.handle;
}

const std::vector<SourceFrame>& Symbolizer::symbolize(ModuleHandle module, uint64_t elf_vaddr) {
  return symbolize(*handles_.at(module), elf_vaddr);
}

const std::vector<SourceFrame>& Symbolizer::symbolize(ModuleEntry& entry, uint64_t elf_vaddr) {
  auto found = entry.frames_by_address.find(elf_vaddr);
  if (found != entry.frames_by_address.end()) return found->second;
  load_dwarf(entry);
  // Resolve before inserting: if resolve() throws, no empty vector is left in the cache.
  std::vector<SourceFrame> frames = resolve(entry, elf_vaddr);
  ++stats_.addresses_resolved;
  return entry.frames_by_address.emplace(elf_vaddr, std::move(frames)).first->second;
}

Symbolizer::ModuleEntry& Symbolizer::module_entry(const ModuleIdentity& module) {
  std::string key = module_key(module);
  auto found = modules_.find(key);
  if (found != modules_.end()) return found->second;

  ModuleEntry entry;
  entry.basename = basename_of(module.path);
  ModuleDebugInfo::OpenResult opened;
  auto prefetched = prefetched_.find(key);
  std::shared_ptr<Prefetch> prefetch;
  if (prefetched != prefetched_.end()) {
    prefetch = std::move(prefetched->second);
    prefetched_.erase(prefetched);
    prefetch->wait_until(prefetch->opened);
  }
  if (prefetch != nullptr && !prefetch->failed) {
    opened.warnings = std::move(prefetch->warnings);  // its thread is done with them
    entry.loading = std::move(prefetch);
  } else {
    opened = ModuleDebugInfo::open(module, options_);
  }
  entry.debug_info = std::move(opened.module);
  for (std::string& warning : opened.warnings) warn(std::move(warning));
  ++stats_.modules_opened;
  return modules_.emplace(std::move(key), std::move(entry)).first->second;
}

void Symbolizer::load_dwarf(ModuleEntry& entry) {
  if (entry.dwarf_loaded) return;
  entry.dwarf_loaded = true;
  std::vector<std::string> warnings;
  if (entry.loading != nullptr) {
    entry.loading->wait_until(entry.loading->loaded);
    entry.debug_info = std::move(entry.loading->module);
    warnings = std::move(entry.loading->load_warnings);
    entry.loading.reset();
  } else if (entry.debug_info != nullptr) {
    warnings = entry.debug_info->load_dwarf();
  }
  for (std::string& warning : warnings) warn(std::move(warning));
  if (entry.debug_info != nullptr && entry.debug_info->reads_inflated_image())
    ++stats_.inflated_images;
  if (entry.debug_info != nullptr && entry.debug_info->reads_cached_image())
    ++stats_.cached_images;
}

std::vector<SourceFrame> Symbolizer::resolve(const ModuleEntry& entry, uint64_t elf_vaddr) const {
  const ModuleDebugInfo* info = entry.debug_info.get();
  const std::optional<Dwarf_Addr> address =
      info != nullptr ? info->dwfl_address(elf_vaddr) : std::nullopt;
  if (!address) {
    SourceFrame unknown;
    unknown.function = module_offset_name(entry.basename, elf_vaddr);
    return {unknown};
  }

  std::vector<SourceFrame> frames;
  if (info->has_dwarf())
    if (const std::optional<Dwarf_Addr> dwarf_address = info->dwarf_address(elf_vaddr))
      frames = inline_frames(info->dwarf_module(), *dwarf_address,
                             options_.index_functions ? info->function_index() : nullptr);
  if (frames.empty()) frames.emplace_back();  // no CU covers it: symbol table only
  // Only the physical (last) frame can fall back to the symbol table: inlined code has no
  // symbol of its own, the symbol covering it is the caller's.
  SourceFrame& physical = frames.back();
  if (physical.function.empty()) physical.function = info->symbol_name(*address);
  if (physical.function.empty()) physical.function = module_offset_name(entry.basename, elf_vaddr);
  return frames;
}

void Symbolizer::warn(std::string message) {
  if (!warned_.insert(message).second) return;
  spdlog::warn("symbolizer: {}", message);
  warnings_.push_back(std::move(message));
}

}  // namespace heapline::analysis

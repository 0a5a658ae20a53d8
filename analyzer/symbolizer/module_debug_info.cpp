#include "module_debug_info.h"

#include <elfutils/libdwelf.h>
#include <fcntl.h>
#include <gelf.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "debug_file_search.h"
#include "demangle.h"

namespace heapline::analysis {
namespace {

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// A build-id that came out of a trace is untrusted input and is about to become part of a path:
// only hex digits may pass, or "../../x" would walk out of the debug root.
bool is_hex(const std::string& text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](unsigned char c) {
    return std::isdigit(c) || (c >= 'a' && c <= 'f');
  });
}

// ":.debug:<roots>" is dwfl's default search order (see dwfl_standard_find_debuginfo in
// libdwfl.h) with our roots in place of the default "/usr/lib/debug".
std::string make_debuginfo_path(const SymbolizerOptions& options) {
  std::string path = ":.debug";
  for (const std::string& root : options.debug_roots) path += ":" + root;
  return path;
}

std::string describe(const std::string& build_id) {
  return build_id.empty() ? std::string("none") : build_id;
}

// The first PT_LOAD's p_vaddr, which a debug file shares with its module unless one of them was
// prelinked after the split (then libdwfl's address_sync logic is needed: the image is not used).
std::optional<GElf_Addr> first_load_vaddr(Elf* elf) {
  size_t count = 0;
  if (elf == nullptr || elf_getphdrnum(elf, &count) != 0) return std::nullopt;
  for (size_t i = 0; i < count; ++i) {
    GElf_Phdr phdr;
    if (gelf_getphdr(elf, static_cast<int>(i), &phdr) != nullptr && phdr.p_type == PT_LOAD)
      return phdr.p_vaddr;
  }
  return std::nullopt;
}

struct ElfEnd {
  void operator()(Elf* elf) const { elf_end(elf); }
};

}  // namespace

ModuleDebugInfo::ModuleDebugInfo(const std::string& debuginfo_path)
    : debuginfo_path_(debuginfo_path) {
  debuginfo_path_ptr_ = debuginfo_path_.data();
  // find_elf is only consulted for modules reported without a file; we always pass one, but
  // dwfl wants a valid callback anyway. find_debuginfo does the separate-debug-file search.
  callbacks_.find_elf = dwfl_build_id_find_elf;
  callbacks_.find_debuginfo = &ModuleDebugInfo::find_debuginfo;
  callbacks_.section_address = dwfl_offline_section_address;
  callbacks_.debuginfo_path = &debuginfo_path_ptr_;
  dwfl_ = dwfl_begin(&callbacks_);
}

ModuleDebugInfo::~ModuleDebugInfo() {
  if (dwfl_ != nullptr) dwfl_end(dwfl_);
  if (image_dwfl_ != nullptr) dwfl_end(image_dwfl_);  // before image_, which it reads
  if (debug_fd_ >= 0) close(debug_fd_);
}

int ModuleDebugInfo::find_debuginfo(Dwfl_Module* module, void** userdata, const char* name,
                                    Dwarf_Addr base, const char* file_name, const char* debuglink,
                                    GElf_Word debuglink_crc, char** debuginfo_file_name) {
  auto* self = static_cast<ModuleDebugInfo*>(userdata != nullptr ? *userdata : nullptr);
  // dwfl also asks this callback for a DWZ alt file, once the module's DWARF is open (its debug
  // bias is known then): that search stays libdwfl's.
  Dwarf_Addr debug_bias = 0;
  dwfl_module_info(module, nullptr, nullptr, nullptr, &debug_bias, nullptr, nullptr, nullptr);
  const bool alt_file = debug_bias != static_cast<Dwarf_Addr>(-1);
  if (self == nullptr || alt_file || self->dwarf_source_ == DwarfSource::kLoaded)
    return dwfl_standard_find_debuginfo(module, userdata, name, base, file_name, debuglink,
                                        debuglink_crc, debuginfo_file_name);
  if (self->debug_fd_ >= 0) {
    const int fd = fcntl(self->debug_fd_, F_DUPFD_CLOEXEC, 0);
    if (fd >= 0) *debuginfo_file_name = strdup(self->dwarf_file_.c_str());
    return fd;
  }
  // Nothing to find (see find_dwarf()); errno 0 makes dwfl fall back to .dynsym, as after an
  // empty standard search.
  errno = 0;
  return -1;
}

std::string ModuleDebugInfo::report(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return "not found on disk";
  if (std::filesystem::is_directory(path, ec)) return "is a directory";
  if (dwfl_ == nullptr) return dwfl_errmsg(-1);

  dwfl_report_begin(dwfl_);
  // base 0 with add_p_vaddr=true reports the module at its own link-time addresses (bias 0),
  // for ET_EXEC and ET_DYN alike, so the caller's ELF vaddr is directly a dwfl address.
  // fd -1: dwfl opens the file itself and owns the descriptor.
  Dwfl_Module* module =
      dwfl_report_elf(dwfl_, std::filesystem::path(path).filename().c_str(), path.c_str(), -1,
                      /*base=*/0, /*add_p_vaddr=*/true);
  dwfl_report_end(dwfl_, nullptr, nullptr);
  if (module == nullptr) return dwfl_errmsg(-1);

  module_ = module;
  // The bias should be 0 by construction; read it instead of assuming, so an odd layout
  // (prelinked, first PT_LOAD not page aligned) still maps correctly.
  if (dwfl_module_getelf(module_, &bias_) == nullptr) return dwfl_errmsg(-1);
  dwfl_module_info(module_, nullptr, &start_, &end_, nullptr, nullptr, nullptr, nullptr);
  return {};
}

std::string ModuleDebugInfo::build_id_hex() const {
  const unsigned char* bits = nullptr;
  GElf_Addr vaddr = 0;
  int length = dwfl_module_build_id(module_, &bits, &vaddr);
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (int i = 0; i < length; ++i) {
    hex += kDigits[bits[i] >> 4];
    hex += kDigits[bits[i] & 0xf];
  }
  return hex;
}

ModuleDebugInfo::OpenResult ModuleDebugInfo::open(const ModuleIdentity& identity,
                                                  const SymbolizerOptions& options) {
  OpenResult result;
  const std::string search_path = make_debuginfo_path(options);
  const std::string expected = lowercase(identity.build_id);
  const std::string path = identity.path.empty() ? std::string("<empty path>") : identity.path;

  // 1. The file the target loaded, if it is still the same file.
  std::string problem;
  {
    std::unique_ptr<ModuleDebugInfo> candidate(new ModuleDebugInfo(search_path));
    std::string error = identity.path.empty() ? std::string("no file") : candidate->report(path);
    if (!error.empty()) {
      problem = error;
    } else if (std::string actual = candidate->build_id_hex();
               !expected.empty() && actual != expected) {
      // A rebuilt or upgraded binary: its line tables describe different code, so wrong answers
      // are worse than none.
      problem = "build-id mismatch (trace " + expected + ", file " + describe(actual) + ")";
    } else {
      result.module = std::move(candidate);
    }
  }

  // 2. The debug file that carries the expected build-id. It has the symbol table, the DWARF
  // and the program headers, which is all symbolization needs: the code itself is not needed.
  if (result.module == nullptr && expected.size() > 2 && is_hex(expected)) {
    for (const std::string& root : options.debug_roots) {
      const std::string debug_file =
          root + "/.build-id/" + expected.substr(0, 2) + "/" + expected.substr(2) + ".debug";
      std::unique_ptr<ModuleDebugInfo> candidate(new ModuleDebugInfo(search_path));
      if (!candidate->report(debug_file).empty() || candidate->build_id_hex() != expected) continue;
      result.module = std::move(candidate);
      result.warnings.push_back(path + ": " + problem + "; using " + debug_file);
      break;
    }
  }

  if (result.module == nullptr) {
    result.warnings.push_back(path + ": " + problem + "; frames shown as module+offset");
    return result;
  }

  void** userdata = nullptr;
  dwfl_module_info(result.module->module_, &userdata, nullptr, nullptr, nullptr, nullptr, nullptr,
                   nullptr);
  *userdata = result.module.get();
  result.module->find_dwarf(options);
  if (!result.module->has_dwarf_) {
    result.warnings.push_back(path + ": no debug info (build-id " +
                              describe(result.module->build_id_hex()) +
                              "); showing symbol-table names only");
  }
  return result;
}

void ModuleDebugInfo::find_dwarf(const SymbolizerOptions& options) {
  inflate_ = options.inflate_compressed_debug;
  cache_ = DebugImageCache(options.debug_cache_dir, options.debug_cache_min_bytes);
  // libdwfl's order: DWARF in the module itself first (dwarf_begin_elf's own test)...
  Dwarf_Addr bias = 0;
  Elf* elf = dwfl_module_getelf(module_, &bias);
  const char* main_file = nullptr;
  dwfl_module_info(module_, nullptr, nullptr, nullptr, nullptr, nullptr, &main_file, nullptr);
  if (elf != nullptr && main_file != nullptr && elf_has_dwarf_sections(elf)) {
    dwarf_source_ = DwarfSource::kFile;
    dwarf_file_ = main_file;
    has_dwarf_ = true;
    return;
  }
  // ...then the build-id debug file, whose own build-id must match...
  const std::string build_id = build_id_hex();
  if (!build_id.empty()) {
    BuildIdFile found = open_build_id_debug_file(options.debug_roots, build_id);
    if (found.fd >= 0) {
      std::unique_ptr<Elf, ElfEnd> debug(elf_begin(found.fd, ELF_C_READ_MMAP, nullptr));
      const void* bits = nullptr;
      const ssize_t length = debug != nullptr ? dwelf_elf_gnu_build_id(debug.get(), &bits) : -1;
      const unsigned char* expected = nullptr;
      GElf_Addr vaddr = 0;
      const int expected_length = dwfl_module_build_id(module_, &expected, &vaddr);
      if (length > 0 && length == expected_length && std::memcmp(bits, expected, length) == 0) {
        dwarf_source_ = DwarfSource::kFile;
        dwarf_file_ = found.path;
        debug_fd_ = found.fd;
        has_dwarf_ = elf_has_dwarf_sections(debug.get());
        return;
      }
      close(found.fd);
    } else if (!found.failed && !debuginfod_configured()) {
      // ...and when no file exists where the debuglink search looks, there is nothing to find.
      GElf_Word crc = 0;
      const char* debuglink = elf != nullptr ? dwelf_elf_gnu_debuglink(elf, &crc) : nullptr;
      if (main_file != nullptr && !debuglink_candidates_exist(main_file, debuglink, debuginfo_path_))
        return;  // kNone
    }
  }
  // Anything else (a debuglink file, a build-id file that does not match, no build-id at all,
  // debuginfod): libdwfl's own search and load, now, as before any of this existed.
  dwarf_source_ = DwarfSource::kLoaded;
  dwarf_loaded_ = true;
  Dwarf_Addr dwarf_bias = 0;
  has_dwarf_ = dwfl_module_getdwarf(module_, &dwarf_bias) != nullptr;
}

std::vector<std::string> ModuleDebugInfo::load_dwarf(const std::atomic<bool>* cancel) {
  std::vector<std::string> warnings;
  if (dwarf_loaded_ || !has_dwarf_) return warnings;
  dwarf_loaded_ = true;
  const char* module_path = nullptr;
  dwfl_module_info(module_, nullptr, nullptr, nullptr, nullptr, nullptr, &module_path, nullptr);
  const std::string name = module_path != nullptr ? module_path : dwarf_file_;

  const int fd = inflate_ ? ::open(dwarf_file_.c_str(), O_RDONLY | O_CLOEXEC) : -1;
  InflatedDebugFile inflated;
  if (fd >= 0) {
    inflated = inflate_debug_file(fd, cancel, cache_, build_id_hex());
    close(fd);
  }
  if (cancel != nullptr && cancel->load()) {
    has_dwarf_ = false;
    return warnings;
  }
  if (!inflated.error.empty()) {
    // Not handed to libdw: on a corrupt stream its zlib path can "succeed" with garbage DWARF
    // (seen with a .debug_info whose middle was overwritten), and wrong lines are worse than none.
    warnings.push_back(name + ": " + dwarf_file_ + ": " + inflated.error +
                       "; showing symbol-table names only");
    has_dwarf_ = false;
    return warnings;
  }
  if (!inflated.image.empty() && report_inflated(inflated)) return warnings;

  // Not compressed (nothing to gain), or not rewritable: libdw reads the file itself.
  Dwarf_Addr dwarf_bias = 0;
  has_dwarf_ = dwfl_module_getdwarf(module_, &dwarf_bias) != nullptr;
  if (!has_dwarf_)
    warnings.push_back(name + ": debug info unreadable (" + dwfl_errmsg(-1) +
                       "); showing symbol-table names only");
  return warnings;
}

bool ModuleDebugInfo::report_inflated(InflatedDebugFile& inflated) {
  image_dwfl_ = dwfl_begin(&callbacks_);
  if (image_dwfl_ == nullptr) return false;
  dwfl_report_begin(image_dwfl_);
  Dwfl_Module* module =
      dwfl_report_offline_memory(image_dwfl_, std::filesystem::path(dwarf_file_).filename().c_str(),
                                 dwarf_file_.c_str(), inflated.image.data(), inflated.image.size());
  dwfl_report_end(image_dwfl_, nullptr, nullptr);
  Dwarf_Addr main_bias = 0;
  Dwarf_Addr image_bias = 0;
  Elf* image_elf = module != nullptr ? dwfl_module_getelf(module, &image_bias) : nullptr;
  const auto image_vaddr = first_load_vaddr(image_elf);
  Dwarf_Addr dwarf_bias = 0;
  if (image_vaddr && image_vaddr == first_load_vaddr(dwfl_module_getelf(module_, &main_bias)) &&
      dwfl_module_getdwarf(module, &dwarf_bias) != nullptr) {
    image_ = std::move(inflated.image);
    dwarf_module_ = module;
    dwarf_bias_ = image_bias;
    dwfl_module_info(module, nullptr, &dwarf_start_, &dwarf_end_, nullptr, nullptr, nullptr,
                     nullptr);
    return true;
  }
  dwfl_end(image_dwfl_);
  image_dwfl_ = nullptr;
  return false;
}

std::optional<Dwarf_Addr> ModuleDebugInfo::dwarf_address(uint64_t elf_vaddr) const {
  if (dwarf_module_ == nullptr) return dwfl_address(elf_vaddr);
  const Dwarf_Addr address = elf_vaddr + dwarf_bias_;
  if (address < elf_vaddr || address < dwarf_start_ || address >= dwarf_end_) return std::nullopt;
  return address;
}

std::optional<Dwarf_Addr> ModuleDebugInfo::dwfl_address(uint64_t elf_vaddr) const {
  const Dwarf_Addr address = elf_vaddr + bias_;
  if (address < elf_vaddr) return std::nullopt;  // wrapped around: garbage input
  if (address < start_ || address >= end_) return std::nullopt;
  return address;
}

void ModuleDebugInfo::prepare_lookups() const {
  // Without DWARF every frame's name comes from the symbols; with it, few do (not worth sorting
  // a big symbol table on a core the reading needs).
  if (!has_dwarf_) return build_symbol_index();
  Dwarf_Addr low = 0, bias = 0;
  dwfl_module_info(dwarf_module(), nullptr, &low, nullptr, nullptr, nullptr, nullptr, nullptr);
  dwfl_module_addrdie(dwarf_module(), low, &bias);  // the answer is not needed, its tables are
}

std::string ModuleDebugInfo::symbol_name(Dwarf_Addr dwfl_addr) const {
  build_symbol_index();
  auto it = std::upper_bound(symbols_.begin(), symbols_.end(), dwfl_addr,
                             [](Dwarf_Addr a, const Symbol& s) { return a < s.address; });
  while (it != symbols_.begin()) {
    --it;
    if (dwfl_addr < it->address + std::max<GElf_Xword>(it->size, 1)) return demangle(it->name);
    if (it->size != 0) break;  // sized symbol that ends before the address: nothing covers it
  }
  return {};
}

void ModuleDebugInfo::build_symbol_index() const {
  // dwfl_module_addrinfo scans the whole symbol table on every call (66% of `heapline report`
  // on a cc1plus trace): sort the function symbols once and binary-search them instead.
  if (!symbols_built_) {
    symbols_built_ = true;
    const int count = dwfl_module_getsymtab(module_);
    for (int i = 1; i < count; ++i) {
      GElf_Sym sym;
      GElf_Addr addr = 0;
      const char* name = dwfl_module_getsym_info(module_, i, &sym, &addr, nullptr, nullptr, nullptr);
      if (name == nullptr || *name == '\0' || GELF_ST_TYPE(sym.st_info) != STT_FUNC) continue;
      symbols_.push_back({addr, sym.st_size, name});
    }
    std::sort(symbols_.begin(), symbols_.end(),
              [](const Symbol& a, const Symbol& b) { return a.address < b.address; });
  }
}

}  // namespace heapline::analysis

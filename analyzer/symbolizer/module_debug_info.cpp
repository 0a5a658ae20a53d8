#include "module_debug_info.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <system_error>

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

}  // namespace

ModuleDebugInfo::ModuleDebugInfo(const std::string& debuginfo_path)
    : debuginfo_path_(debuginfo_path) {
  debuginfo_path_ptr_ = debuginfo_path_.data();
  // find_elf is only consulted for modules reported without a file; we always pass one, but
  // dwfl wants a valid callback anyway. find_debuginfo does the separate-debug-file search.
  callbacks_.find_elf = dwfl_build_id_find_elf;
  callbacks_.find_debuginfo = dwfl_standard_find_debuginfo;
  callbacks_.section_address = dwfl_offline_section_address;
  callbacks_.debuginfo_path = &debuginfo_path_ptr_;
  dwfl_ = dwfl_begin(&callbacks_);
}

ModuleDebugInfo::~ModuleDebugInfo() {
  if (dwfl_ != nullptr) dwfl_end(dwfl_);
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

  Dwarf_Addr dwarf_bias = 0;
  result.module->has_dwarf_ = dwfl_module_getdwarf(result.module->module_, &dwarf_bias) != nullptr;
  if (!result.module->has_dwarf_) {
    result.warnings.push_back(path + ": no debug info (build-id " +
                              describe(result.module->build_id_hex()) +
                              "); showing symbol-table names only");
  }
  return result;
}

std::optional<Dwarf_Addr> ModuleDebugInfo::dwfl_address(uint64_t elf_vaddr) const {
  const Dwarf_Addr address = elf_vaddr + bias_;
  if (address < elf_vaddr) return std::nullopt;  // wrapped around: garbage input
  if (address < start_ || address >= end_) return std::nullopt;
  return address;
}

std::string ModuleDebugInfo::symbol_name(Dwarf_Addr dwfl_addr) const {
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
  auto it = std::upper_bound(symbols_.begin(), symbols_.end(), dwfl_addr,
                             [](Dwarf_Addr a, const Symbol& s) { return a < s.address; });
  while (it != symbols_.begin()) {
    --it;
    if (dwfl_addr < it->address + std::max<GElf_Xword>(it->size, 1)) return demangle(it->name);
    if (it->size != 0) break;  // sized symbol that ends before the address: nothing covers it
  }
  return {};
}

}  // namespace heapline::analysis

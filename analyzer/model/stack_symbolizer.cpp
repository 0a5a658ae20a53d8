#include "stack_symbolizer.h"

#include <cinttypes>
#include <cstdio>

namespace heapline::analysis {
namespace {

std::string basename_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace

StackSymbolizer::StackSymbolizer(const AllocationModel& model, Symbolizer& symbolizer,
                                 const SiteRules& rules)
    : model_(model), symbolizer_(symbolizer) {
  for (const std::string& p : rules.skip_patterns) user_skip_.emplace_back(p);
  for (const ModuleInfo& m : model.modules().modules()) module_basenames_.push_back(basename_of(m.path));
}

const std::vector<ResolvedFrame>& StackSymbolizer::frames(uint32_t stack_id) {
  auto [it, inserted] = cache_.try_emplace(stack_id);
  if (!inserted) return it->second;
  std::vector<ResolvedFrame>& out = it->second;
  const auto& stacks = model_.stacks();
  if (stack_id >= stacks.size()) return out;
  const StackTrace& trace = stacks[stack_id];
  const auto& modules = model_.modules().modules();
  for (size_t i = 0; i < trace.frames.size(); ++i) {
    const ModuleAddress& ma = trace.frames[i];
    const uint64_t pc = trace.addresses[i];
    if (ma.module == UINT32_MAX) {
      char name[32];
      snprintf(name, sizeof name, "0x%" PRIx64, pc);
      out.push_back({name, "", 0, "", pc, false});
      continue;
    }
    const ModuleInfo& m = modules[ma.module];
    // Return addresses point after the call; the call itself is one byte earlier. The first
    // frame is a return address too (the recorder's own frames were dropped).
    const uint64_t lookup = ma.elf_vaddr > 0 ? ma.elf_vaddr - 1 : 0;
    for (const SourceFrame& sf : symbolizer_.symbolize({m.path, m.build_id_hex}, lookup))
      out.push_back({sf.function, sf.file, sf.line, m.path, pc, sf.inlined});
  }
  return out;
}

bool StackSymbolizer::is_runtime_frame(const ResolvedFrame& f) const {
  const std::string module = basename_of(f.module);
  static const char* const kRuntimeModules[] = {"libc.so", "libstdc++.so", "libgcc_s.so",
                                                "ld-linux", "libheapline_preload.so",
                                                "libjemalloc.so", "libtcmalloc", "libm.so"};
  for (const char* r : kRuntimeModules)
    if (starts_with(module, r)) return true;
  // Standard-library headers inlined into the program (vector, new_allocator.h, ...).
  if (starts_with(f.file, "/usr/include/") || f.file.find("/c++/") != std::string::npos ||
      f.file.find("/bits/") != std::string::npos)
    return true;
  for (const std::regex& re : user_skip_)
    if (std::regex_search(f.function, re) || std::regex_search(f.file, re)) return true;
  return false;
}

size_t StackSymbolizer::site_index(uint32_t stack_id) {
  const std::vector<ResolvedFrame>& f = frames(stack_id);
  for (size_t i = 0; i < f.size(); ++i)
    if (!is_runtime_frame(f[i])) return i;
  return 0;
}

}  // namespace heapline::analysis

#include "stack_symbolizer.h"

#include <cinttypes>
#include <cstdio>

namespace heapline::analysis {
namespace {

std::string_view basename_of(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.starts_with(prefix); }

bool is_runtime_module_path(std::string_view path) {
  const std::string_view module = basename_of(path);
  static const char* const kRuntimeModules[] = {"libc.so", "libstdc++.so", "libgcc_s.so",
                                                "ld-linux", "libheapline_preload.so",
                                                "libjemalloc.so", "libtcmalloc", "libm.so"};
  for (const char* r : kRuntimeModules)
    if (starts_with(module, r)) return true;
  return false;
}

// What a frame outside every known module is called.
std::string unknown_frame_name(uint64_t pc) {
  char name[32];
  snprintf(name, sizeof name, "0x%" PRIx64, pc);
  return name;
}

}  // namespace

StackSymbolizer::StackSymbolizer(const AllocationModel& model, Symbolizer& symbolizer,
                                 const SiteRules& rules)
    : model_(model), symbolizer_(symbolizer) {
  for (const std::string& p : rules.skip_patterns) user_skip_.emplace_back(p);
  for (const ModuleInfo& m : model.modules().modules())
    runtime_module_.push_back(is_runtime_module_path(m.path));
  handles_.assign(runtime_module_.size(), SIZE_MAX);
}

Symbolizer::ModuleHandle StackSymbolizer::handle(uint32_t module) {
  Symbolizer::ModuleHandle& h = handles_[module];
  if (h == SIZE_MAX) {
    const ModuleInfo& m = model_.modules().modules()[module];
    h = symbolizer_.module_handle({m.path, m.build_id_hex});
  }
  return h;
}

const std::vector<SourceFrame>& StackSymbolizer::symbolize(const ModuleAddress& ma) {
  // Return addresses point after the call; the call itself is one byte earlier. The first
  // frame is a return address too (the recorder's own frames were dropped).
  return symbolizer_.symbolize(handle(ma.module), ma.elf_vaddr > 0 ? ma.elf_vaddr - 1 : 0);
}

void StackSymbolizer::open_modules(uint32_t stack_id) {
  const auto& stacks = model_.stacks();
  if (stack_id >= stacks.size()) return;
  for (const ModuleAddress& ma : stacks[stack_id].frames)
    if (ma.module != UINT32_MAX) handle(ma.module);
}

const FrameSymbol* StackSymbolizer::symbol_of(const SourceFrame& frame,
                                              const std::string& module_path) {
  auto [it, inserted] = symbols_.try_emplace(&frame, nullptr);
  if (inserted)
    it->second = pool_->intern(frame.function, frame.file, frame.line, module_path, frame.inlined);
  return it->second;
}

const std::vector<ResolvedFrame>& StackSymbolizer::frames(uint32_t stack_id) {
  std::vector<ResolvedFrame>& out = cached_frames_;
  if (stack_id == cached_stack_) return out;
  cached_stack_ = stack_id;
  out.clear();
  const auto& stacks = model_.stacks();
  if (stack_id >= stacks.size()) return out;
  const StackTrace& trace = stacks[stack_id];
  const auto& modules = model_.modules().modules();
  for (size_t i = 0; i < trace.frames.size(); ++i) {
    const ModuleAddress& ma = trace.frames[i];
    const uint64_t pc = trace.addresses[i];
    if (ma.module == UINT32_MAX) {
      out.push_back({pool_->intern(unknown_frame_name(pc), "", 0, "", false), pc});
      continue;
    }
    const std::string& path = modules[ma.module].path;
    for (const SourceFrame& sf : symbolize(ma)) out.push_back({symbol_of(sf, path), pc});
  }
  return out;
}

bool StackSymbolizer::is_runtime_source(std::string_view function, std::string_view file) const {
  // Standard-library headers inlined into the program (vector, new_allocator.h, ...).
  if (starts_with(file, "/usr/include/") || file.find("/c++/") != std::string_view::npos ||
      file.find("/bits/") != std::string_view::npos)
    return true;
  for (const std::regex& re : user_skip_)
    if (std::regex_search(function.begin(), function.end(), re) ||
        std::regex_search(file.begin(), file.end(), re))
      return true;
  return false;
}

bool StackSymbolizer::is_runtime_frame(const ResolvedFrame& f) const {
  return is_runtime_module_path(f.module()) || is_runtime_source(f.function(), f.file());
}

size_t StackSymbolizer::site_index(uint32_t stack_id) {
  const std::vector<ResolvedFrame>& f = frames(stack_id);
  for (size_t i = 0; i < f.size(); ++i)
    if (!is_runtime_frame(f[i])) return i;
  return 0;
}

SourceLocation StackSymbolizer::site(uint32_t stack_id) {
  const auto& stacks = model_.stacks();
  if (stack_id >= stacks.size() || stacks[stack_id].frames.empty())
    return {"<unknown stack>", "", 0};
  const StackTrace& trace = stacks[stack_id];
  // Same walk as site_index() over frames(): the first source frame that is not runtime code.
  // A frame of a runtime module is runtime whatever its source lines, so it is not symbolized.
  for (size_t i = 0; i < trace.frames.size(); ++i) {
    const ModuleAddress& ma = trace.frames[i];
    if (ma.module == UINT32_MAX) {
      std::string name = unknown_frame_name(trace.addresses[i]);
      if (!is_runtime_source(name, "")) return {std::move(name), "", 0};
      continue;
    }
    if (runtime_module_[ma.module]) continue;
    for (const SourceFrame& sf : symbolize(ma))
      if (!is_runtime_source(sf.function, sf.file)) return {sf.function, sf.file, sf.line};
  }
  // Every frame is runtime code: the innermost one, as site_index() does.
  const ModuleAddress& first = trace.frames.front();
  if (first.module == UINT32_MAX) return {unknown_frame_name(trace.addresses.front()), "", 0};
  const SourceFrame& sf = symbolize(first).front();
  return {sf.function, sf.file, sf.line};
}

}  // namespace heapline::analysis

// Turns the model's stacks into source frames (inlined frames expanded) and picks each stack's
// allocation *site*: its first frame outside the allocator, the C/C++ runtime and the standard
// library headers, so `v.push_back(x)` in main.cpp:42 is attributed to main.cpp:42, not to
// new_allocator.h. Users add their own frames to skip with --skip REGEX (matched against the
// function name and the file).
#pragma once

#include <cstdint>
#include <memory>
#include <regex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model/allocation_model.h"
#include "model/frame_pool.h"
#include "symbolizer/symbolizer.h"

namespace heapline::analysis {

struct SourceLocation {
  std::string function;
  std::string file;
  uint32_t line = 0;
};

struct SiteRules {
  std::vector<std::string> skip_patterns;  // user's extra patterns (ECMAScript regex)
};

class StackSymbolizer {
 public:
  StackSymbolizer(const AllocationModel& model, Symbolizer& symbolizer, const SiteRules& rules);

  // Frames of the stack, innermost first; empty for an unknown id. The vector is this object's
  // and holds the last stack asked for (the callers ask for one stack, then its site_index):
  // keeping every stack's was most of a big leak report's memory. The frames' symbols live in
  // pool(), which a Report that shows them keeps.
  const std::vector<ResolvedFrame>& frames(uint32_t stack_id);
  std::shared_ptr<const FramePool> pool() const { return pool_; }
  // Index into frames(stack_id) of the allocation site (0 when every frame would be skipped).
  size_t site_index(uint32_t stack_id);
  // The allocation site alone: frames(stack_id)[site_index(stack_id)] as a location, or
  // "<unknown stack>" for a stack without frames. Cheaper than both: it symbolizes frames only
  // up to the site, skips frames of runtime modules unsymbolized (they can never be the site),
  // and keeps nothing per stack, so a report over many distinct stacks symbolizes only the
  // frames it shows and never opens the debug info of a library no site lies in.
  SourceLocation site(uint32_t stack_id);
  // Opens (without symbolizing anything) every module that frames(stack_id) would, in the same
  // order: what frames() would add to the symbolizer's warnings, at a fraction of its cost.
  void open_modules(uint32_t stack_id);

 private:
  bool is_runtime_source(std::string_view function, std::string_view file) const;
  bool is_runtime_frame(const ResolvedFrame& f) const;
  // The symbol of one source frame of a module's address, interned once per source frame.
  const FrameSymbol* symbol_of(const SourceFrame& frame, const std::string& module_path);
  // The source frames of a frame in a known module (ma.module != UINT32_MAX).
  const std::vector<SourceFrame>& symbolize(const ModuleAddress& ma);
  Symbolizer::ModuleHandle handle(uint32_t module);

  const AllocationModel& model_;
  Symbolizer& symbolizer_;
  std::vector<std::regex> user_skip_;
  std::shared_ptr<FramePool> pool_ = std::make_shared<FramePool>();
  // The symbolizer's source frames live as long as it does, so their addresses are keys.
  std::unordered_map<const SourceFrame*, const FrameSymbol*> symbols_;
  uint32_t cached_stack_ = UINT32_MAX;
  std::vector<ResolvedFrame> cached_frames_;
  std::vector<char> runtime_module_;               // by model module index
  std::vector<Symbolizer::ModuleHandle> handles_;  // by model module index; SIZE_MAX = not yet
};

}  // namespace heapline::analysis

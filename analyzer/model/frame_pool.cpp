#include "frame_pool.h"

namespace heapline::analysis {

std::string_view FramePool::intern_string(std::string_view text) {
  auto it = strings_.find(text);
  if (it == strings_.end()) it = strings_.emplace(text).first;
  return *it;
}

const FrameSymbol* FramePool::intern(std::string_view function, std::string_view file,
                                     uint32_t line, std::string_view module, bool inlined) {
  const FrameSymbol key{intern_string(function), intern_string(file), intern_string(module), line,
                        inlined};
  return &*symbols_.insert(key).first;
}

size_t FramePool::SymbolHash::operator()(const FrameSymbol& s) const {
  // Interned strings: their addresses identify them.
  uint64_t h = reinterpret_cast<uintptr_t>(s.function.data());
  h = h * 0x9e3779b97f4a7c15ull ^ reinterpret_cast<uintptr_t>(s.file.data());
  h = h * 0x9e3779b97f4a7c15ull ^ reinterpret_cast<uintptr_t>(s.module.data());
  h = h * 0x9e3779b97f4a7c15ull ^ (uint64_t{s.line} << 1 | s.inlined);
  return static_cast<size_t>(h ^ h >> 29);
}

bool FramePool::SymbolEqual::operator()(const FrameSymbol& a, const FrameSymbol& b) const {
  return a.function.data() == b.function.data() && a.file.data() == b.file.data() &&
         a.module.data() == b.module.data() && a.line == b.line && a.inlined == b.inlined;
}

}  // namespace heapline::analysis

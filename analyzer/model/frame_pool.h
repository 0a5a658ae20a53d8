// Interned symbolized frames. A big program's leak report shows millions of frames that repeat a
// few thousand functions (cc1plus: 2.8 M frames in 46 000 leaked stacks), so a frame is a pointer
// to its one shared FrameSymbol plus its return address, and the names are stored once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>

namespace heapline::analysis {

// What a frame shows besides its address. Only a FramePool makes these: two frames with equal
// fields point to the same FrameSymbol, and equal strings share storage (equal data() pointers).
struct FrameSymbol {
  std::string_view function;
  std::string_view file;
  std::string_view module;  // path of the module
  uint32_t line = 0;
  bool inlined = false;
};

class FramePool {
 public:
  // The symbol with these fields; the pointer and the views stay valid as long as the pool.
  const FrameSymbol* intern(std::string_view function, std::string_view file, uint32_t line,
                            std::string_view module, bool inlined);

 private:
  std::string_view intern_string(std::string_view text);

  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  // Symbols are keyed by their interned strings' addresses: equal strings share one.
  struct SymbolHash {
    size_t operator()(const FrameSymbol& s) const;
  };
  struct SymbolEqual {
    bool operator()(const FrameSymbol& a, const FrameSymbol& b) const;
  };
  // Node-based sets: an element never moves, so views of it and pointers to it stay valid.
  std::unordered_set<std::string, StringHash, std::equal_to<>> strings_;
  std::unordered_set<FrameSymbol, SymbolHash, SymbolEqual> symbols_;
};

// A frame of a symbolized stack, innermost first: 16 bytes.
struct ResolvedFrame {
  const FrameSymbol* symbol = nullptr;
  uint64_t address = 0;  // the return address as recorded

  std::string_view function() const { return symbol->function; }
  std::string_view file() const { return symbol->file; }
  std::string_view module() const { return symbol->module; }
  uint32_t line() const { return symbol->line; }
  bool inlined() const { return symbol->inlined; }
};

}  // namespace heapline::analysis

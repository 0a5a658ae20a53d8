// Expands one address into its chain of inlined frames using the DWARF scope tree.
#pragma once

#include <elfutils/libdwfl.h>

#include <vector>

#include "symbolizer.h"

namespace heapline::analysis {

// Frames for `dwfl_addr`, innermost first, following the contract of Symbolizer::symbolize.
// Returns an empty vector when no compilation unit with debug info covers the address.
// Otherwise the last frame is never inlined; its `function` is "" when DWARF has no name for it
// (the caller then falls back to the ELF symbol table).
std::vector<SourceFrame> inline_frames(Dwfl_Module* module, Dwarf_Addr dwfl_addr);

}  // namespace heapline::analysis

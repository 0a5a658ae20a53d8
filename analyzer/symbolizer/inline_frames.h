// Expands one address into its chain of inlined frames using the DWARF scope tree.
#pragma once

#include <elfutils/libdwfl.h>

#include <string>
#include <vector>

#include "function_index.h"
#include "symbolizer.h"

namespace heapline::analysis {

// Frames for `dwfl_addr`, innermost first, following the contract of Symbolizer::symbolize.
// Returns an empty vector when no compilation unit with debug info covers the address.
// Otherwise the last frame is never inlined; its `function` is "" when DWARF has no name for it
// (the caller then falls back to the ELF symbol table). With an `index` (kept for the module
// across calls), the scopes come from it where it knows the function.
std::vector<SourceFrame> inline_frames(Dwfl_Module* module, Dwarf_Addr dwfl_addr,
                                       FunctionIndex* index = nullptr);

// A line-table or DW_AT_call_file name made absolute with the CU's DW_AT_comp_dir when the name
// is relative (DWARF 4 relative include_directories, relative source paths on the command line)
// and comp_dir is absolute; lexically normalised. Null or empty `name` gives "".
std::string join_source_path(const char* comp_dir, const char* name);

}  // namespace heapline::analysis

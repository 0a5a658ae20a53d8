// How an inlined call chain is read back from DWARF.
//
// For a pc inside `helper` inlined into `caller` (itself out of line), the DIE tree is:
//
//   DW_TAG_compile_unit                       comp_dir, line table
//     DW_TAG_subprogram  caller               the code we are in, physically
//       DW_TAG_lexical_block                  (any number of these, ignored)
//         DW_TAG_inlined_subroutine  helper   DW_AT_call_file / DW_AT_call_line: where in
//                                             `caller` the call to helper was written
//           ...pc is in here...
//
// The line table gives the innermost position (a line of helper). Walking outwards, each
// inlined_subroutine contributes one frame at the current position, and its call_file/call_line
// become the position of the next frame out; the first subprogram ends the walk.
//
// dwarf_getscopes finds the innermost scope, but past the first inlined instance it continues
// with the scopes of the *abstract* definition (the inline function's namespace), not with the
// caller. So, as eu-addr2line -i does, we take only its innermost DIE and re-walk the concrete
// tree with dwarf_getscopes_die. Both walks start at the unit's root: with a FunctionIndex the
// chain comes from the function found by address instead (function_index.h).
#include "inline_frames.h"

#include <dwarf.h>
#include <elfutils/libdw.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "demangle.h"

namespace heapline::analysis {
namespace {

struct Position {
  std::string file;
  uint32_t line = 0;
  uint32_t column = 0;
};

std::string absolute_source_path(Dwarf_Die* cu, const char* name) {
  Dwarf_Attribute attr;
  return join_source_path(dwarf_formstring(dwarf_attr(cu, DW_AT_comp_dir, &attr)), name);
}

Position line_table_position(Dwarf_Die* cu, Dwarf_Addr pc) {
  Position position;
  Dwarf_Line* line = dwarf_getsrc_die(cu, pc);
  if (line == nullptr) return position;
  int number = 0;
  int column = 0;
  if (dwarf_lineno(line, &number) == 0 && number > 0) position.line = number;
  if (dwarf_linecol(line, &column) == 0 && column > 0) position.column = column;
  position.file = absolute_source_path(cu, dwarf_linesrc(line, nullptr, nullptr));
  return position;
}

uint32_t udata_or_zero(Dwarf_Die* die, unsigned int name) {
  Dwarf_Attribute attr;
  Dwarf_Word value = 0;
  if (dwarf_formudata(dwarf_attr(die, name, &attr), &value) != 0) return 0;
  return static_cast<uint32_t>(value);
}

// Where the inlined instance `inlined` was called from, in its caller's source.
Position call_site_position(Dwarf_Die* inlined) {
  Position position;
  position.line = udata_or_zero(inlined, DW_AT_call_line);
  position.column = udata_or_zero(inlined, DW_AT_call_column);

  Dwarf_Attribute attr;
  Dwarf_Word file_index = 0;
  Dwarf_Die cu;
  Dwarf_Files* files = nullptr;
  size_t file_count = 0;
  if (dwarf_formudata(dwarf_attr(inlined, DW_AT_call_file, &attr), &file_index) == 0 &&
      dwarf_diecu(inlined, &cu, nullptr, nullptr) != nullptr &&
      dwarf_getsrcfiles(&cu, &files, &file_count) == 0 && file_index < file_count) {
    position.file = absolute_source_path(&cu, dwarf_filesrc(files, file_index, nullptr, nullptr));
  }
  return position;
}

// dwarf_attr_integrate follows DW_AT_abstract_origin (inlined and out-of-line instances of an
// inline function) and DW_AT_specification (C++ definitions of declarations made in a class or
// namespace), which is where the names actually live.
std::string function_name(Dwarf_Die* function) {
  Dwarf_Attribute attr;
  for (unsigned int name : {DW_AT_linkage_name, DW_AT_MIPS_linkage_name}) {
    if (const char* linkage = dwarf_formstring(dwarf_attr_integrate(function, name, &attr))) {
      return demangle(linkage);
    }
  }
  const char* plain = dwarf_formstring(dwarf_attr_integrate(function, DW_AT_name, &attr));
  return plain != nullptr ? plain : "";
}

SourceFrame make_frame(std::string function, const Position& position, bool inlined) {
  SourceFrame frame;
  frame.function = std::move(function);
  frame.file = position.file;
  frame.line = position.line;
  frame.column = position.column;
  frame.inlined = inlined;
  return frame;
}

// libdw hands out scope arrays allocated with malloc.
struct FreeDeleter {
  void operator()(Dwarf_Die* dies) const { std::free(dies); }
};
using ScopeArray = std::unique_ptr<Dwarf_Die[], FreeDeleter>;

// The concrete scope chain around `pc`, innermost first (see the file comment); `depth` is 0
// when no scope covers pc.
ScopeArray concrete_scope_chain(Dwarf_Die* cu, Dwarf_Addr pc, int& depth) {
  depth = 0;
  Dwarf_Die* raw = nullptr;
  const int count = dwarf_getscopes(cu, pc, &raw);
  ScopeArray scopes(raw);
  if (count <= 0) return nullptr;
  // Up to the first inlined instance dwarf_getscopes' scopes *are* the concrete chain: when a
  // subprogram comes first, nothing past it is read, and the second walk of the CU's DIE tree
  // (half of a libc pc's cost: its CUs are large) is not needed.
  for (int i = 0; i < count; ++i) {
    const int tag = dwarf_tag(&scopes[i]);
    if (tag == DW_TAG_inlined_subroutine) break;
    if (tag == DW_TAG_subprogram) {
      depth = count;
      return scopes;
    }
  }
  Dwarf_Die innermost = scopes[0];
  raw = nullptr;
  const int chain_depth = dwarf_getscopes_die(&innermost, &raw);
  ScopeArray chain(raw);
  if (chain_depth <= 0) return nullptr;
  depth = chain_depth;
  return chain;
}

}  // namespace

std::string join_source_path(const char* comp_dir, const char* name) {
  if (name == nullptr || *name == '\0') return {};
  std::filesystem::path path(name);
  // Only an absolute comp_dir can make a relative name absolute. A relative one (reproducible
  // builds: Debian's glibc has DW_AT_comp_dir "./iconv") was already prefixed to the name by
  // libdw as line-table directory 0; joining it again would give "iconv/iconv/gconv_db.c".
  if (path.is_relative() && comp_dir != nullptr && comp_dir[0] == '/') {
    path = std::filesystem::path(comp_dir) / path;
  }
  return path.lexically_normal().string();
}

std::vector<SourceFrame> inline_frames(Dwfl_Module* module, Dwarf_Addr dwfl_addr,
                                       FunctionIndex* index) {
  Dwarf_Addr bias = 0;
  Dwarf_Die* cu = dwfl_module_addrdie(module, dwfl_addr, &bias);
  if (cu == nullptr) return {};
  const Dwarf_Addr pc = dwfl_addr - bias;  // address as the DWARF (maybe a .debug file) has it
  // libdwfl picks the CU whose first address is the nearest below, without checking where it
  // ends: an address in a gap after it (code without DWARF, like crt1.o's _start placed after an
  // -O2 main in .text.startup) would get that CU's last line-table row. Only a CU that covers pc
  // may answer; one without address attributes cannot be checked and is trusted.
  const bool has_ranges = dwarf_hasattr(cu, DW_AT_low_pc) || dwarf_hasattr(cu, DW_AT_ranges);
  if (has_ranges && dwarf_haspc(cu, pc) != 1) return {};

  std::vector<SourceFrame> frames;
  Position here = line_table_position(cu, pc);
  std::vector<Dwarf_Die> indexed;
  if (index != nullptr) indexed = index->scope_chain(cu, pc);
  int depth = static_cast<int>(indexed.size());
  ScopeArray walked;
  if (indexed.empty()) walked = concrete_scope_chain(cu, pc, depth);
  Dwarf_Die* const chain = indexed.empty() ? walked.get() : indexed.data();
  for (int i = 0; i < depth; ++i) {
    Dwarf_Die* scope = &chain[i];
    const int tag = dwarf_tag(scope);
    if (tag == DW_TAG_inlined_subroutine) {
      frames.push_back(make_frame(function_name(scope), here, /*inlined=*/true));
      here = call_site_position(scope);
    } else if (tag == DW_TAG_subprogram) {
      frames.push_back(make_frame(function_name(scope), here, /*inlined=*/false));
      return frames;
    }
  }
  // No enclosing subprogram (code outside any function DIE, or a truncated tree): still end
  // with the physical frame, nameless so the caller asks the symbol table.
  frames.push_back(make_frame("", here, /*inlined=*/false));
  return frames;
}

}  // namespace heapline::analysis

// The functions of a compilation unit by address, so that finding the scopes around a pc is a
// binary search and a walk down one function, not a walk over the whole unit's DIE tree.
//
// Why: libdw's dwarf_getscopes starts at the unit's root for every pc and steps over each
// top-level DIE before the one that holds it, and a pc in inlined code takes a second walk
// (dwarf_getscopes_die, see inline_frames.cpp). A C++ unit that includes <map> and <string> has
// thousands of top-level DIEs, and the stacks of a report land in a handful of units: symbolizing
// bench_containers' stacks was a quarter of its `report --json` time, nearly all of it in those
// walks. Here each unit is walked once, the first time one of its pcs is symbolized, for the
// ranges of its functions.
//
// What is indexed: DW_TAG_subprogram DIEs with code, at the unit's top level or inside
// namespaces, classes, structures and unions (where compilers put definitions); a function's
// own children are not indexed but walked per pc (nested functions, lexical blocks and inlined
// instances, in the order dwarf_getscopes reports them). A pc that no indexed function covers,
// or that more than one covers (aliases: glibc's assembler files give __finitel, finitel and
// __GI___finitel the same range, and libdw takes the first in the tree), gets no answer here and
// the caller falls back to libdw's walk: the index saves work, it never changes a frame.
#pragma once

#include <elfutils/libdw.h>

#include <unordered_map>
#include <vector>

namespace heapline::analysis {

class FunctionIndex {
 public:
  // The concrete scopes around `pc` in `cu`, innermost first and ending with the outermost
  // function; empty when no indexed function's ranges cover pc.
  std::vector<Dwarf_Die> scope_chain(Dwarf_Die* cu, Dwarf_Addr pc);

 private:
  struct Range {
    Dwarf_Addr low, high;  // [low, high)
    Dwarf_Die function;
    Dwarf_Addr reach;      // the highest `high` of this range and all before it (sorted by low)
  };
  const std::vector<Range>& ranges_of(Dwarf_Die* cu);

  std::unordered_map<Dwarf_Off, std::vector<Range>> units_;  // by the unit DIE's offset
};

}  // namespace heapline::analysis

#include "function_index.h"

#include <dwarf.h>

#include <algorithm>

namespace heapline::analysis {
namespace {

// DIEs that can hold function definitions without being functions themselves.
bool holds_definitions(int tag) {
  return tag == DW_TAG_namespace || tag == DW_TAG_class_type || tag == DW_TAG_structure_type ||
         tag == DW_TAG_union_type || tag == DW_TAG_module;
}

// The scopes dwarf_getscopes descends into below a function.
bool is_code_scope(int tag) {
  return tag == DW_TAG_lexical_block || tag == DW_TAG_inlined_subroutine ||
         tag == DW_TAG_subprogram || tag == DW_TAG_entry_point || tag == DW_TAG_catch_block ||
         tag == DW_TAG_try_block || tag == DW_TAG_with_stmt;
}

template <typename Range>
void collect_functions(Dwarf_Die* parent, std::vector<Range>& out) {
  Dwarf_Die child;
  if (dwarf_child(parent, &child) != 0) return;
  do {
    const int tag = dwarf_tag(&child);
    if (tag == DW_TAG_subprogram) {
      Dwarf_Addr base = 0, low = 0, high = 0;
      for (ptrdiff_t at = 0; (at = dwarf_ranges(&child, at, &base, &low, &high)) > 0;)
        if (low < high) out.push_back({low, high, child, 0});
    } else if (holds_definitions(tag)) {
      collect_functions(&child, out);
    }
  } while (dwarf_siblingof(&child, &child) == 0);
}

}  // namespace

const std::vector<FunctionIndex::Range>& FunctionIndex::ranges_of(Dwarf_Die* cu) {
  auto [it, inserted] = units_.try_emplace(dwarf_dieoffset(cu));
  if (inserted) {
    std::vector<Range>& ranges = it->second;
    collect_functions(cu, ranges);
    std::sort(ranges.begin(), ranges.end(),
              [](const Range& a, const Range& b) { return a.low < b.low; });
    Dwarf_Addr reach = 0;
    for (Range& r : ranges) r.reach = reach = std::max(reach, r.high);
  }
  return it->second;
}

std::vector<Dwarf_Die> FunctionIndex::scope_chain(Dwarf_Die* cu, Dwarf_Addr pc) {
  const std::vector<Range>& ranges = ranges_of(cu);
  // Every function starting at or below pc whose range reaches past it: back from the last one
  // starting at or below pc, for as long as some range that far back still reaches pc.
  auto at = std::upper_bound(ranges.begin(), ranges.end(), pc,
                             [](Dwarf_Addr value, const Range& r) { return value < r.low; });
  const Range* found = nullptr;
  while (at != ranges.begin() && (at - 1)->reach > pc) {
    --at;
    if (pc >= at->high) continue;
    if (found != nullptr) return {};  // covered twice: libdw's walk decides
    found = &*at;
  }
  if (found == nullptr) return {};

  // Down from the function, into whichever child scope covers pc, as dwarf_getscopes would.
  std::vector<Dwarf_Die> chain{found->function};
  for (bool deeper = true; deeper;) {
    deeper = false;
    Dwarf_Die child;
    if (dwarf_child(&chain.back(), &child) != 0) break;
    do {
      if (is_code_scope(dwarf_tag(&child)) && dwarf_haspc(&child, pc) == 1) {
        chain.push_back(child);
        deeper = true;
        break;
      }
    } while (dwarf_siblingof(&child, &child) == 0);
  }
  std::reverse(chain.begin(), chain.end());
  return chain;
}

}  // namespace heapline::analysis

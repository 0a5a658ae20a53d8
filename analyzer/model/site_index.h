// Groups stacks by allocation site (function, file, line of StackSymbolizer::site_index), the
// unit of the time series and of the growth suspects: many stacks, one line of code.
#pragma once

#include <cstdint>
#include <vector>

#include "model/report_model.h"

namespace heapline::analysis {

inline constexpr uint32_t kNoSite = UINT32_MAX;

struct SiteIndex {
  std::vector<SourceLocation> sites;
  std::vector<uint32_t> site_of_stack;  // by stack id; kNoSite for stacks that never allocated

  uint32_t site_of(uint32_t stack_id) const {
    return stack_id < site_of_stack.size() ? site_of_stack[stack_id] : kNoSite;
  }
};

// Every stack that allocated gets a site; stacks with no frames share "<unknown stack>".
SiteIndex index_sites(const AllocationModel& model, StackSymbolizer& stacks);

// "file:line" with the file's base name, or the function when there is no file: a legend label.
std::string short_site_label(const SourceLocation& site);

}  // namespace heapline::analysis

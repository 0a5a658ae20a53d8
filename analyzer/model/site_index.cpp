#include "site_index.h"

#include <map>
#include <tuple>

namespace heapline::analysis {

SiteIndex index_sites(const AllocationModel& model, StackSymbolizer& stacks) {
  SiteIndex index;
  const auto& stats = model.stack_stats();
  index.site_of_stack.assign(stats.size(), kNoSite);
  std::map<std::tuple<std::string, uint32_t, std::string>, uint32_t> by_key;
  for (uint32_t id = 0; id < stats.size(); ++id) {
    if (stats[id].allocations == 0) continue;
    SourceLocation site = stacks.site(id);
    auto [it, inserted] = by_key.try_emplace({site.file, site.line, site.function},
                                             static_cast<uint32_t>(index.sites.size()));
    if (inserted) index.sites.push_back(std::move(site));
    index.site_of_stack[id] = it->second;
  }
  return index;
}

std::string short_site_label(const SourceLocation& site) {
  if (site.file.empty()) return site.function.empty() ? std::string("??") : site.function;
  const size_t slash = site.file.rfind('/');
  const std::string base = slash == std::string::npos ? site.file : site.file.substr(slash + 1);
  return base + ":" + std::to_string(site.line);
}

}  // namespace heapline::analysis

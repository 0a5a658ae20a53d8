#include "line_selection.h"

#include <algorithm>
#include <map>
#include <utility>

namespace heapline::analysis {
namespace {

// "ns::Cache::put(int) const" -> "ns::Cache::put": the parameter list starts at the first '('
// outside template brackets.
std::string without_parameters(const std::string& function) {
  int depth = 0;
  for (size_t i = 0; i < function.size(); ++i) {
    const char c = function[i];
    if (c == '<')
      ++depth;
    else if (c == '>')
      --depth;
    else if (c == '(' && depth == 0 && i > 0)
      return function.substr(0, i);
  }
  return function;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

const LineCost& cost_of(const LineEntry& entry, Attribution attribution) {
  return attribution == Attribution::kSelf ? entry.self : entry.inclusive;
}

bool function_matches(const std::string& function, const std::string& name) {
  if (name.empty()) return false;
  if (function == name) return true;
  const std::string bare = without_parameters(function);
  return bare == name || ends_with(bare, "::" + name);
}

bool file_matches(const std::string& file, const std::string& path) {
  if (path.empty() || file.empty()) return false;
  return file == path || ends_with(file, "/" + path);
}

std::vector<FunctionLines> select_function(const std::vector<LineEntry>& lines,
                                           const std::string& name) {
  std::map<std::pair<std::string, std::string>, FunctionLines> groups;
  for (const LineEntry& e : lines) {
    if (!function_matches(e.where.function, name)) continue;
    FunctionLines& g = groups[{e.where.file, e.where.function}];
    g.function = e.where.function;
    g.file = e.where.file;
    g.lines.push_back(&e);  // `lines` is sorted by file, then line
  }
  std::vector<FunctionLines> out;
  for (auto& [key, g] : groups) out.push_back(std::move(g));
  return out;
}

std::vector<const LineEntry*> select_file(const std::vector<LineEntry>& lines,
                                          const std::string& path) {
  std::vector<const LineEntry*> out;
  for (const LineEntry& e : lines)
    if (file_matches(e.where.file, path)) out.push_back(&e);
  return out;
}

std::vector<const LineEntry*> select_top(const std::vector<LineEntry>& lines, size_t count,
                                         Attribution attribution, bool by_increment) {
  std::vector<const LineEntry*> out;
  for (const LineEntry& e : lines)
    if (!cost_of(e, attribution).empty()) out.push_back(&e);
  auto heavier = [&](const LineEntry* a, const LineEntry* b) {
    const LineCost &x = cost_of(*a, attribution), &y = cost_of(*b, attribution);
    if (by_increment && x.increment_bytes != y.increment_bytes)
      return x.increment_bytes > y.increment_bytes;
    if (x.live_peak_bytes != y.live_peak_bytes) return x.live_peak_bytes > y.live_peak_bytes;
    if (x.bytes_allocated != y.bytes_allocated) return x.bytes_allocated > y.bytes_allocated;
    return x.allocations > y.allocations;
  };
  const size_t n = std::min(count, out.size());
  std::partial_sort(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n), out.end(), heavier);
  out.resize(n);
  return out;
}

}  // namespace heapline::analysis

#include "source_lines.h"

#include <fstream>

namespace heapline::analysis {

const std::vector<std::string>* SourceLines::lines(const std::string& path) {
  if (path.empty() || missing_.count(path)) return nullptr;
  if (auto it = files_.find(path); it != files_.end()) return &it->second;
  std::ifstream in(path);
  if (!in) {
    missing_[path] = true;
    return nullptr;
  }
  std::vector<std::string>& out = files_[path];
  std::string text;
  while (std::getline(in, text)) {
    if (!text.empty() && text.back() == '\r') text.pop_back();
    // Tabs would break the columns of a listing.
    std::string expanded;
    for (const char c : text) {
      if (c == '\t')
        expanded.append(4 - expanded.size() % 4, ' ');
      else
        expanded += c;
    }
    out.push_back(std::move(expanded));
  }
  return &out;
}

std::string SourceLines::line(const std::string& path, uint32_t line) {
  const std::vector<std::string>* text = lines(path);
  if (!text || line == 0 || line > text->size()) return {};
  return (*text)[line - 1];
}

}  // namespace heapline::analysis

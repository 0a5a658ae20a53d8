#include "source_text.h"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>

namespace heapline::e2e {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1)
    out.push_back(text.substr(start, nl - start));
  if (start < text.size()) out.push_back(text.substr(start));
  return out;
}

uint32_t marker_line_in(const std::string& path, const std::string& marker) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << "cannot read " << path;
  const std::regex re("^\\s*[^/\\s].*//\\s*" + marker + "(\\s.*)?$");
  std::string text;
  uint32_t found = 0, count = 0;
  for (uint32_t n = 1; std::getline(in, text); ++n) {
    if (std::regex_search(text, re)) {
      found = n;
      ++count;
    }
  }
  EXPECT_EQ(count, 1u) << "marker " << marker << " in " << path;
  return found;
}

}  // namespace heapline::e2e

// Source files as lines, read from disk once each, for listings that print code next to figures.
// A file that cannot be read is remembered as missing (the listing says so and shows figures
// only): the trace may be analyzed on a machine without the sources.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace heapline::analysis {

class SourceLines {
 public:
  // The lines of `path` (index 0 = line 1), or null when the file cannot be read.
  const std::vector<std::string>* lines(const std::string& path);
  // Line `line` (1-based) of `path`, "" when unknown.
  std::string line(const std::string& path, uint32_t line);

 private:
  std::map<std::string, std::vector<std::string>> files_;
  std::map<std::string, bool> missing_;
};

}  // namespace heapline::analysis

// The one error type of trace reading: names the file and the byte offset where the problem is,
// so a user can tell a truncated download from a foreign file from a corrupted chunk.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace heapline::analysis {

class TraceError : public std::runtime_error {
 public:
  TraceError(const std::string& path, uint64_t offset, const std::string& what)
      : std::runtime_error(path + ": at byte offset " + std::to_string(offset) + ": " + what),
        offset_(offset) {}
  uint64_t offset() const { return offset_; }

 private:
  uint64_t offset_;
};

}  // namespace heapline::analysis

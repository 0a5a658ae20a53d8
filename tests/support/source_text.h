// Text helpers shared by the tests: splitting program output into lines, and finding the line of
// a test program's source that carries a marker comment ("// @leak64"), so that expected line
// numbers are never written into a test by hand.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace heapline::e2e {

// The lines of `text`, without their '\n'; a last line without one is kept.
std::vector<std::string> lines_of(const std::string& text);

// The line number (1-based) of the one line of `path` whose trailing comment is `marker`; a
// failed expectation (and 0) if the file cannot be read or the marker is not there exactly once.
// A marker follows code on its line ("// @leak64", then end of line or a space), so "@leak64"
// never matches "@leak640" and header comments that mention markers are not taken for them.
uint32_t marker_line_in(const std::string& path, const std::string& marker);

}  // namespace heapline::e2e

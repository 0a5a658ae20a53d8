// Itanium C++ ABI demangling, isolated so the rest of the symbolizer never handles the
// malloc'd buffer abi::__cxa_demangle returns.
#pragma once

#include <string>

namespace heapline::analysis {

// Demangled form of `name` when it is a mangled C++ name, `name` unchanged otherwise
// (C symbols, already-demangled DW_AT_name values, or names the demangler rejects).
// A null `name` gives "".
std::string demangle(const char* name);

}  // namespace heapline::analysis

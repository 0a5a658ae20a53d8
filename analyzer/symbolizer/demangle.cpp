#include "demangle.h"

#include <cxxabi.h>

#include <cstdlib>
#include <cstring>

namespace heapline::analysis {

std::string demangle(const char* name) {
  if (name == nullptr) return {};
  // Only "_Z..." names are mangled. Calling the demangler on plain C names is not just wasted
  // work: it accepts some short identifiers as <type> encodings (e.g. "f" -> "float").
  if (std::strncmp(name, "_Z", 2) != 0) return name;
  int status = 0;
  char* demangled = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  if (status != 0 || demangled == nullptr) return name;
  std::string result(demangled);
  std::free(demangled);
  return result;
}

}  // namespace heapline::analysis

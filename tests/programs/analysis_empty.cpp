// Does nothing, in C++: the C++ runtime's own allocations, subtracted from analysis_leaks_cxx.
#include <string>
#include <vector>

int main() {
  std::vector<int> unused;  // the program uses the same headers as analysis_leaks_cxx.cpp
  return static_cast<int>(unused.size());
}

// Known truth for the analyzer tests (tests/analysis/), in C++: leaks through new, new[], a
// std::string and a std::vector must be attributed to the lines of this file that caused them,
// not to libstdc++ or its headers. Sizes are ones the C++ runtime never uses by itself.
//
//   100 x new char[64] leaked at @leak64
//   3 x 1000 bytes leaked inside leak_helper (@helper1000), called from @helper_call
//   new std::string of 100 chars leaked at @string: the object (32 bytes) + its buffer (101)
//   a heap vector<Record700> with one push_back, leaked: the vector object (24 bytes) at
//     @vector_new and its buffer (700 bytes) at @push_back
//   10 x 1 MiB vectors live at once (@peak_mib), then destroyed: the program's peak
#include <array>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

constexpr size_t kMiB = 1 << 20;
using Record700 = std::array<char, 700>;

void* volatile g_sink[128];  // volatile: the optimizer may not drop allocations nobody reads

__attribute__((noinline)) char* leak_helper(size_t size) {
  char* p = new char[size];  // @helper1000
  std::memset(p, 1, size);
  return p;
}

}  // namespace

int main() {
  for (int i = 0; i < 100; ++i) g_sink[i] = new char[64];  // @leak64
  for (int i = 0; i < 3; ++i) g_sink[100 + i] = leak_helper(1000);  // @helper_call

  g_sink[110] = new std::string(100, 'x');  // @string

  auto* records = new std::vector<Record700>;  // @vector_new
  records->push_back(Record700{});  // @push_back
  g_sink[111] = records;

  {
    std::vector<std::vector<char>> big;
    big.reserve(10);  // @peak_reserve
    for (int i = 0; i < 10; ++i) big.emplace_back(kMiB, char(i));  // @peak_mib
  }
  return 0;
}

// Benchmark workload: C++ containers the way applications use them (map, string, vector,
// unordered_map), allocating through operator new. Usage: containers [rounds]
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? atoi(argv[1]) : 20;
  size_t checksum = 0;
  for (int r = 0; r < rounds; ++r) {
    std::map<int, std::string> ordered;
    std::unordered_map<std::string, std::vector<int>> index;
    for (int i = 0; i < 20000; ++i) {
      std::string key = "key-" + std::to_string(i * 7919 % 100003) + "-with-a-longer-suffix";
      ordered.emplace(i, key);
      auto& v = index[key];
      for (int j = 0; j < i % 8; ++j) v.push_back(j);
    }
    for (const auto& [k, v] : index) checksum += k.size() + v.size();
    checksum += ordered.size();
  }
  printf("%zu\n", checksum);
  return 0;
}

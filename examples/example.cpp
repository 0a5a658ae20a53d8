// The example program of the README's demo: a small "service" that caches some strings for good,
// builds a table that it frees, and forgets to free one buffer per request.
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace {

std::map<int, std::string>* g_cache = new std::map<int, std::string>();  // lives until exit

char* handle_request(int id) {
  char* buffer = static_cast<char*>(malloc(256));  // leaked: the caller forgets it
  snprintf(buffer, 256, "request %d", id);
  (*g_cache)[id % 16] = buffer;
  return buffer;
}

long build_table(int rows) {
  std::vector<std::vector<long>> table(rows, std::vector<long>(64));
  long sum = 0;
  for (auto& row : table)
    for (size_t i = 0; i < row.size(); ++i) sum += static_cast<long>(row[i] = static_cast<long>(i));
  return sum;
}

}  // namespace

int main() {
  long checksum = 0;
  for (int i = 0; i < 100; ++i) {
    handle_request(i);
    checksum += build_table(200);
  }
  return checksum == 100L * 200 * 2016 ? 0 : 1;
}

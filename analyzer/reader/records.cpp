#include "records.h"

namespace heapline::analysis {

const char* api_name(format::AllocApi api) {
  static constexpr const char* kNames[] = {
      "malloc",  "calloc",       "realloc", "reallocarray", "posix_memalign", "aligned_alloc",
      "memalign", "valloc",      "pvalloc", "new",          "new[]",          "free",
      "delete",  "delete[]",     "mmap",    "munmap"};
  static_assert(sizeof kNames / sizeof *kNames == static_cast<size_t>(format::AllocApi::kCount));
  const auto i = static_cast<size_t>(api);
  return i < sizeof kNames / sizeof *kNames ? kNames[i] : "?";
}

const char* exit_kind_name(format::ExitKind kind) {
  switch (kind) {
    case format::ExitKind::kExit: return "exit";
    case format::ExitKind::kUnderscoreExit: return "_exit";
    case format::ExitKind::kSignal: return "signal";
  }
  return "?";
}

}  // namespace heapline::analysis

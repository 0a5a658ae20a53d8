#include "options.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace heapline::preload {
namespace {

uint32_t env_uint(const char* name, uint32_t fallback, uint32_t lo, uint32_t hi) {
  const char* s = getenv(name);
  if (!s || !*s) return fallback;
  char* end = nullptr;
  const unsigned long v = strtoul(s, &end, 10);
  if (*end != '\0' || v < lo || v > hi) return fallback;
  return static_cast<uint32_t>(v);
}

void copy_env(const char* name, const char* fallback, char* out, size_t size) {
  const char* s = getenv(name);
  if (!s || !*s) s = fallback;
  snprintf(out, size, "%s", s);
}

}  // namespace

Options read_options() {
  Options o{};
  copy_env("HEAPLINE_OUTPUT", "heapline.%e.%p.trace", o.output_pattern, sizeof o.output_pattern);
  copy_env("HEAPLINE_MANIFEST", "", o.manifest_path, sizeof o.manifest_path);
  o.max_depth = env_uint("HEAPLINE_DEPTH", 64, 1, 256);
  o.ring_chunks = env_uint("HEAPLINE_RING_CHUNKS", 256, 4, 65536);
  o.chunk_size = env_uint("HEAPLINE_CHUNK_KB", 128, 4, 4096) * 1024;
  o.zstd_level = static_cast<int>(env_uint("HEAPLINE_ZSTD_LEVEL", 2, 1, 19));
  o.rss_interval_ms = env_uint("HEAPLINE_RSS_MS", 50, 0, 3600 * 1000);
  o.sample_bytes = env_uint("HEAPLINE_SAMPLE_BYTES", 0, 0, 1u << 30);
  o.sample_seed = env_uint("HEAPLINE_SAMPLE_SEED", 0, 0, UINT32_MAX);
  const char* unwind = getenv("HEAPLINE_UNWIND");
  o.frame_pointers = unwind && strcmp(unwind, "fp") == 0;
  o.libunwind_only = unwind && strcmp(unwind, "libunwind") == 0;
  return o;
}

bool expand_output_pattern(const char* pattern, int pid, const char* exe_name, char* out,
                           unsigned out_size) {
  unsigned n = 0;
  auto append = [&](const char* s, size_t len) {
    if (n + len + 1 > out_size) return false;
    memcpy(out + n, s, len);
    n += static_cast<unsigned>(len);
    return true;
  };
  for (const char* p = pattern; *p; ++p) {
    bool ok;
    if (p[0] == '%' && p[1] == 'p') {
      char num[16];
      ok = append(num, static_cast<size_t>(snprintf(num, sizeof num, "%d", pid)));
      ++p;
    } else if (p[0] == '%' && p[1] == 'e') {
      ok = append(exe_name, strlen(exe_name));
      ++p;
    } else if (p[0] == '%' && p[1] == '%') {
      ok = append("%", 1);
      ++p;
    } else {
      ok = append(p, 1);
    }
    if (!ok) return false;
  }
  out[n] = '\0';
  return true;
}

}  // namespace heapline::preload

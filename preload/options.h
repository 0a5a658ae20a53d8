// Recorder options, read once from the environment (which `heapline run` sets from its flags).
//
//   HEAPLINE_OUTPUT       trace path pattern; %p = pid, %e = executable name, %% = '%'.
//                         Default "heapline.%e.%p.trace" in the current directory.
//   HEAPLINE_DEPTH        maximum frames per stack (default 64, at most 256)
//   HEAPLINE_UNWIND       "dwarf" (the default: .eh_frame rules cached per address, libunwind
//                         for frames they cannot step; right for any code), "libunwind"
//                         (libunwind for every stack) or "fp" (frame pointers: right only for
//                         code built with them)
//   HEAPLINE_RING_CHUNKS  chunks in the ring (default 256)
//   HEAPLINE_CHUNK_KB     chunk size in KiB (default 128)
//   HEAPLINE_ZSTD_LEVEL   compression level of drained chunks (default 2)
//   HEAPLINE_RSS_MS       interval of RSS samples in ms (default 50; 0 = off)
//   HEAPLINE_SAMPLE_BYTES sampling mode: record allocations by a Poisson process over bytes with
//                         this mean interval (0 = record every allocation, the default)
//   HEAPLINE_SAMPLE_SEED  seed of the sampler (default: from the clock and pid)
//   HEAPLINE_MANIFEST     if set, the path of each trace is appended to this file (used by
//                         `heapline run` to tell the user where traces went)
#pragma once

#include <cstdint>

namespace heapline::preload {

struct Options {
  char output_pattern[1024];
  char manifest_path[1024];
  uint32_t max_depth;
  uint32_t ring_chunks;
  uint32_t chunk_size;
  int zstd_level;
  uint32_t rss_interval_ms;
  uint64_t sample_bytes;
  uint64_t sample_seed;
  bool frame_pointers;
  bool libunwind_only;
};

// Parses the environment with getenv only (no allocation). Invalid numbers keep the default.
Options read_options();

// Expands %p, %e and %% of `pattern` into `out`. Returns false if it does not fit.
bool expand_output_pattern(const char* pattern, int pid, const char* exe_name, char* out,
                           unsigned out_size);

}  // namespace heapline::preload

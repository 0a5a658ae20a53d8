// Inflated debug images kept on disk between runs, so a debug file's compressed DWARF is inflated
// once per machine rather than once per report.
//
// Why: libc6-dbg's libc debug file is 4 MB of zlib and 10 MB inflated. Inflating it and faulting
// in the fresh image costs ~25 ms of CPU in every report that prints a stack through libc (all
// of `report --json`, `leaks`), on a third thread that the reader and the model, busy on a 2-core
// machine, then wait for: with the inflated copy read from the page cache instead, the JSON report
// of a python3 trace went from 128 to 95 ms. heaptrack does the same work once, at record time
// (its interpreter symbolizes while the program runs); perf keeps a build-id cache (~/.debug) and
// debuginfod clients keep ~/.cache/debuginfod_client for the same reason.
//
// Where: $HEAPLINE_CACHE_DIR (set and empty: no cache), else $XDG_CACHE_HOME/heapline, else
// $HOME/.cache/heapline; the images go in its debug/ directory, one file per build-id,
// <build-id>.v1.debug, written to a temporary name and renamed into place (readers never see a
// partial file). Nothing is evicted: `rm -rf ~/.cache/heapline` is always safe.
//
// Trust: an image is used only when its size and its ELF, program and section headers are
// exactly those the current debug file's inflation would produce (inflated_debug_file.cpp checks
// this before using one); anything else is inflated afresh and the file replaced. A cache that
// cannot be created or written (read-only home, full disk) costs nothing but the inflation.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace heapline::analysis {

class ElfImage;

class DebugImageCache {
 public:
  // Images smaller than this inflate in a millisecond or two: not worth a file each.
  static constexpr size_t kDefaultMinBytes = size_t{1} << 20;

  DebugImageCache() = default;  // no cache
  explicit DebugImageCache(std::string directory, size_t min_bytes = kDefaultMinBytes)
      : directory_(std::move(directory)), min_bytes_(min_bytes) {}

  // The directory the environment names (see the file comment); "" for none.
  static std::string directory_from_environment();

  bool enabled() const { return !directory_.empty(); }
  // Whether an image of `size` bytes is worth keeping.
  bool wants(size_t size) const { return enabled() && size >= min_bytes_; }
  const std::string& directory() const { return directory_; }

  // The file an image of the debug file with `build_id_hex` is kept in.
  std::string path_for(std::string_view build_id_hex) const;

  // The kept image for `build_id_hex` if there is one of exactly `size` bytes, mapped
  // copy-on-write; empty otherwise. The caller still checks its headers.
  ElfImage find(std::string_view build_id_hex, size_t size) const;

  // Keeps `image` for `build_id_hex`. False (and nothing left behind) when it cannot.
  bool store(std::string_view build_id_hex, const ElfImage& image) const;

 private:
  std::string directory_;
  size_t min_bytes_ = kDefaultMinBytes;
};

}  // namespace heapline::analysis

// A debug file's compressed DWARF, inflated ahead of libdw into an in-memory copy of the file.
//
// Distributions ship separate debug files with SHF_COMPRESSED (zlib) sections: libc6-dbg's
// libc debug file is 4 MB on disk and 10 MB inflated. libdw 0.188 inflates every such section
// with zlib at dwarf_begin, one malloc'd buffer each, including sections symbolization never
// reads (location lists, macros): ~45 ms for libc, most of a short run's whole report, two
// fifths of it in inflate and adler32 and a third in page faults on the fresh buffers. Here the
// sections are inflated with libdeflate (about twice zlib's speed on the same data) straight into
// one copy of the file, in transparent huge pages, whose sections are no longer compressed: libdw
// reads that copy (dwfl_report_offline_memory) and has nothing left to inflate. Sections a
// symbolizer never reads are left empty. (A memfd handed to dwfl as the debug file was tried
// first: shmem pages cost this kernel as much as zlib's page faults, 12-25 ms for 10 MB.)
#pragma once

#include <libelf.h>
#include <sys/mman.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "support/zeroed_pages.h"
#include "symbolizer/debug_image_cache.h"

namespace heapline::analysis {

// An ELF image in memory, freed with the object: freshly inflated (huge pages from 2 MiB up), or
// a kept copy mapped from the disk cache (debug_image_cache.h).
class ElfImage {
 public:
  ElfImage() = default;
  ElfImage(ZeroedPages pages, size_t size) : pages_(std::move(pages)), size_(size) {}
  // The first `size` bytes of the file open on `fd` (not consumed), mapped copy-on-write: libelf
  // takes an in-memory ELF as writable, though nothing here writes to it. Empty if mmap fails.
  static ElfImage map_file(int fd, size_t size);

  char* data() const {
    return static_cast<char*>(file_map_ ? file_map_.get() : pages_.data());
  }
  size_t size() const { return size_; }
  bool empty() const { return data() == nullptr; }
  bool mapped_from_file() const { return file_map_ != nullptr; }

 private:
  struct Unmap {
    size_t bytes;
    void operator()(void* map) const { munmap(map, bytes); }
  };

  ZeroedPages pages_;
  std::unique_ptr<void, Unmap> file_map_{nullptr, Unmap{0}};  // set: the image is this mapping
  size_t size_ = 0;
};

struct InflatedDebugFile {
  // The rewritten ELF; empty when there is nothing to gain (no zlib-compressed section, an ELF
  // this code does not rewrite: not 64-bit little-endian, GNU .zdebug sections, a compression
  // other than zlib) or on error.
  ElfImage image;
  // Why the file could not be rewritten when that is the file's fault (a compressed section that
  // does not inflate, a truncated file, an inflated size no DEFLATE stream can reach); "" else.
  // Either way the caller falls back to handing libdw the original file, as without this step.
  std::string error;
  // The image came from the disk cache (debug_image_cache.h), nothing was inflated.
  bool from_cache = false;
};

// Rewrites the ELF open on `fd` (not consumed, its offset is not used). Stops early, with
// nothing rewritten, once `*cancel` becomes true (a prefetch nobody waits for any more).
// With an enabled `cache` and the file's `build_id_hex`, a kept image whose headers match what
// this rewrite would produce is used instead, and a fresh rewrite is kept for the next run.
InflatedDebugFile inflate_debug_file(int fd, const std::atomic<bool>* cancel = nullptr,
                                     const DebugImageCache& cache = {},
                                     std::string_view build_id_hex = {});

// True when libdw would accept the ELF as DWARF: it has a .debug_info, .debug_line or
// .debug_frame section with contents (dwarf_begin_elf's own test, compressed or not).
bool elf_has_dwarf_sections(Elf* elf);

}  // namespace heapline::analysis

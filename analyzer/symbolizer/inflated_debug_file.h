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

#include <atomic>
#include <cstddef>
#include <string>
#include <utility>

#include "support/zeroed_pages.h"

namespace heapline::analysis {

// An ELF image in memory (huge pages from 2 MiB up), freed with the object.
class ElfImage {
 public:
  ElfImage() = default;
  ElfImage(ZeroedPages pages, size_t size) : pages_(std::move(pages)), size_(size) {}

  char* data() const { return static_cast<char*>(pages_.data()); }
  size_t size() const { return size_; }
  bool empty() const { return pages_.data() == nullptr; }

 private:
  ZeroedPages pages_;
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
};

// Rewrites the ELF open on `fd` (not consumed, its offset is not used). Stops early, with
// nothing rewritten, once `*cancel` becomes true (a prefetch nobody waits for any more).
InflatedDebugFile inflate_debug_file(int fd, const std::atomic<bool>* cancel = nullptr);

// True when libdw would accept the ELF as DWARF: it has a .debug_info, .debug_line or
// .debug_frame section with contents (dwarf_begin_elf's own test, compressed or not).
bool elf_has_dwarf_sections(Elf* elf);

}  // namespace heapline::analysis

// Zero-filled memory for big buffers written all over: the live-block map's table
// (model/address_map.h) and the inflated copy of a debug file (symbolizer/inflated_debug_file.h).
//
// From 2 MiB up it comes straight from mmap, aligned to 2 MiB and marked MADV_HUGEPAGE: the
// kernel hands out zeroed pages anyway (no memset), and a 24 MiB table is then a dozen page
// faults and a dozen TLB entries instead of 6 000 of each. On the 2-core VM the bench runs on,
// first-touching 48 MiB took 25 ms in 4 KiB pages and 2.7 ms in huge pages, and the live map's
// doublings for a python3 trace (730 k live blocks) were a third of the model thread's time.
// Where transparent huge pages are off, madvise fails quietly and this is plain mmap.
// From 64 KiB to 2 MiB it is mmap in small pages; smaller sizes come from calloc. Mapped memory
// is faulted in writable up front (MADV_POPULATE_WRITE, Linux 5.14; older kernels ignore it).
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <utility>

namespace heapline::analysis {

class ZeroedPages {
 public:
  static constexpr size_t kHugePage = size_t{2} << 20;
  static constexpr size_t kSmallPage = 4096;
  // Below this, calloc (reused heap memory, no system call).
  static constexpr size_t kSmallestMapping = size_t{64} << 10;

  ZeroedPages() = default;
  // `bytes` zero bytes (none for 0). Throws std::bad_alloc.
  explicit ZeroedPages(size_t bytes) {
    if (bytes == 0) return;
    if (bytes < kSmallestMapping) {
      data_ = std::calloc(1, bytes);
      if (!data_) throw std::bad_alloc();
      return;
    }
    // Huge pages are whole pages (a 3 MiB table would otherwise end in 256 small ones), and the
    // mapping has a huge page of slack so that they can start on a huge-page boundary; the slack
    // is never touched, so it costs address space only.
    const bool huge = bytes >= kHugePage;
    const size_t page = huge ? kHugePage : kSmallPage;
    const size_t rounded = (bytes + page - 1) & ~(page - 1);
    mapped_bytes_ = rounded + (huge ? kHugePage : 0);
    mapping_ = mmap(nullptr, mapped_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                    -1, 0);
    if (mapping_ == MAP_FAILED) {
      mapping_ = nullptr;
      throw std::bad_alloc();
    }
    const uintptr_t aligned =
        (reinterpret_cast<uintptr_t>(mapping_) + page - 1) & ~(uintptr_t{page} - 1);
    data_ = reinterpret_cast<void*>(aligned);
    if (huge) madvise(data_, rounded, MADV_HUGEPAGE);  // hints: failing changes only speed
    // The memory is written all over soon: fault it in writable now, in one call. Faulted in on
    // first touch, a hash table's first read of a slot maps the shared zero page and the write
    // after it replaces that mapping, which flushes the TLB of every CPU running another thread
    // of the process, one interrupt each (6% of a python3 report's CPU on the 2-core VM).
    madvise(data_, rounded, MADV_POPULATE_WRITE);
  }
  ZeroedPages(ZeroedPages&& other) noexcept { swap(other); }
  ZeroedPages& operator=(ZeroedPages&& other) noexcept {
    ZeroedPages(std::move(other)).swap(*this);
    return *this;
  }
  ZeroedPages(const ZeroedPages&) = delete;
  ZeroedPages& operator=(const ZeroedPages&) = delete;
  ~ZeroedPages() {
    if (mapping_)
      munmap(mapping_, mapped_bytes_);
    else
      std::free(data_);
  }

  void* data() const { return data_; }

 private:
  void swap(ZeroedPages& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(mapping_, other.mapping_);
    std::swap(mapped_bytes_, other.mapped_bytes_);
  }

  void* data_ = nullptr;
  void* mapping_ = nullptr;  // non-null when data_ is inside an mmap of mapped_bytes_
  size_t mapped_bytes_ = 0;
};

}  // namespace heapline::analysis

// Zero-filled memory for big buffers written all over: the live-block map's table
// (model/address_map.h) and the inflated copy of a debug file (symbolizer/inflated_debug_file.h).
//
// From 2 MiB up it comes straight from mmap, aligned to 2 MiB and marked MADV_HUGEPAGE: the
// kernel hands out zeroed pages anyway (no memset), and a 24 MiB table is then a dozen page
// faults and a dozen TLB entries instead of 6 000 of each. On the 2-core VM the bench runs on,
// first-touching 48 MiB took 25 ms in 4 KiB pages and 2.7 ms in huge pages, and the live map's
// doublings for a python3 trace (730 k live blocks) were a third of the model thread's time.
// Where transparent huge pages are off, madvise fails quietly and this is plain mmap.
// Smaller sizes come from calloc.
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

  ZeroedPages() = default;
  // `bytes` zero bytes (none for 0). Throws std::bad_alloc.
  explicit ZeroedPages(size_t bytes) {
    if (bytes == 0) return;
    if (bytes < kHugePage) {
      data_ = std::calloc(1, bytes);
      if (!data_) throw std::bad_alloc();
      return;
    }
    // Over-allocate by a huge page so the table can start on a huge-page boundary; the slack
    // is never touched, so it costs address space only.
    mapped_bytes_ = bytes + kHugePage;
    mapping_ = mmap(nullptr, mapped_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                    -1, 0);
    if (mapping_ == MAP_FAILED) {
      mapping_ = nullptr;
      throw std::bad_alloc();
    }
    const uintptr_t aligned =
        (reinterpret_cast<uintptr_t>(mapping_) + kHugePage - 1) & ~(uintptr_t{kHugePage} - 1);
    data_ = reinterpret_cast<void*>(aligned);
    madvise(data_, bytes, MADV_HUGEPAGE);  // a hint: failing changes nothing but speed
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

// How a frame of a stream codes its kAlloc and kFree records (format v3, flag kFrameStreamCoded;
// docs/trace-format.md, "Frame payload"). Shared by the drain (encoder side) and the reader
// (decoder side), so both keep the same state in the same order.
//
// The payload is three sections: the records (with an allocation's size and address taken out),
// then every allocation's size, then every allocation's address code. Sizes and new addresses
// are the high-entropy fields of a trace; apart, they no longer break up the matches zstd finds
// in the rest, and their own bytes get their own statistics (churn: 6.1 -> 4.0 B/alloc).
//
// A free names its block by the block's allocation ordinal in the stream (BlockOrdinals): the
// block allocated `a` allocations ago, or the ordinal next to the previous free's. A program
// that tears down a structure frees its blocks in an order that follows their allocation order
// in long runs (a std::map: the order of its nodes; an unordered_map: the same hashed order in
// every round), which a distance back in the address history cannot see (containers: 0.69 ->
// 0.13 B/alloc, sqlite3 0.12 -> 0.10 with the rest unchanged).
#pragma once

#include <cstdint>
#include <cstring>

#include "trace_format.h"

namespace heapline::format {

// Allocations a free may name by ordinal: 2^18 covers a round of the containers workload's
// structure-building (~150 k allocations) before its teardown.
inline constexpr uint32_t kOrdinalWindowBits = 18;
inline constexpr uint64_t kOrdinalWindow = 1ull << kOrdinalWindowBits;

// Free codes (a varint in the records section):
//   0        a block this stream cannot name by ordinal; an AddressHistory code follows
//   2a + 1   the block allocated a allocations ago (a = 0: the stream's latest allocation)
//   2k + 2   the block whose ordinal is the previous ordinal-named free's + unzigzag(k)
//            (0 before the stream's first)
// The encoder names by age only the latest few (kAgeLimit), a sweep's order by the delta.
inline constexpr uint64_t kFreeByAddress = 0;
inline constexpr uint64_t kFreeAgeLimit = 2;

// The reader's side: the addresses of the last kOrdinalWindow allocations, by ordinal.
// `Storage` is the caller's: kOrdinalWindow entries (uninitialized is fine: only ordinals
// this stream wrote are ever read).
class BlockOrdinals {
 public:
  explicit constexpr BlockOrdinals(uint64_t* storage) : ring_(storage) {}
  void reset() {
    count_ = 0;
    previous_free_ = 0;
  }
  void on_alloc(uint64_t address) { ring_[++count_ % kOrdinalWindow] = address; }
  // Decodes a nonzero free code. False if it names no allocation in the window.
  bool decode_free(uint64_t code, uint64_t& address) {
    uint64_t ordinal;
    if (code & 1) {
      const uint64_t age = code >> 1;
      if (age >= count_) return false;
      ordinal = count_ - age;
    } else {
      ordinal = previous_free_ + static_cast<uint64_t>(unzigzag((code - 2) >> 1));
      if (ordinal == 0 || ordinal > count_) return false;
    }
    if (count_ - ordinal >= kOrdinalWindow) return false;
    previous_free_ = ordinal;
    address = ring_[ordinal % kOrdinalWindow];
    return true;
  }

 private:
  uint64_t* ring_;
  uint64_t count_ = 0;          // allocations so far in the stream; the latest has this ordinal
  uint64_t previous_free_ = 0;  // the ordinal the last ordinal-named free named
};

// The drain's side. Ordinals count on across streams (a stream starts at `base_`), so that
// starting a stream never has to clear the table. `slots` holds kOrdinalWindow Slots, zero-filled
// (mmap in the drain: pages untouched until used). The slots form 4-way buckets (one cache line)
// keyed by address: a block stays findable for as long as it is in the window unless four
// younger live blocks share its bucket (a direct-mapped table lost a quarter of containers'
// blocks to collisions: 0.27 vs 0.13 B/alloc).
//
// The table is 4 MiB, so nearly every lookup misses the caches: the drain calls prefetch() for
// the records it is about to code. And it remembers which pages of the table it has written:
// a lookup in a page never written finds nothing without reading it, and an allocation's first
// touch of a page is a write. A read first would map the shared zero page, and the write after
// it a private page, with a TLB shootdown across the program's CPUs (churn2: ~5% of the drain's
// time in those faults).
class BlockOrdinalsEncoder {
 public:
  struct Slot {
    uint64_t address;
    uint64_t ordinal;  // 0: empty
  };
  static constexpr size_t kWays = 4;

  explicit constexpr BlockOrdinalsEncoder(Slot* slots) : slots_(slots) {}
  void reset() {
    base_ = count_;
    previous_free_ = count_;
  }
  // The bucket an address belongs to, fetched toward the cache for a later on_alloc/free_code.
  uint32_t locate(uint64_t address) const {
    const auto bucket = static_cast<uint32_t>(bucket_index(address));
    __builtin_prefetch(slots_ + bucket * kWays, 1);
    return bucket;
  }
  void on_alloc(uint64_t address) { on_alloc(address, static_cast<uint32_t>(bucket_index(address))); }
  uint64_t free_code(uint64_t address) {
    return free_code(address, static_cast<uint32_t>(bucket_index(address)));
  }
  // With the address's bucket (locate) already known.
  void on_alloc(uint64_t address, uint32_t bucket_number) {
    ++count_;
    Slot* bucket = slots_ + bucket_number * kWays;
    if (!mark_written(bucket)) {  // a page never written: every slot is empty
      *bucket = {address, count_};
      return;
    }
    Slot* victim = &bucket[0];
    for (size_t i = 0; i < kWays; ++i) {
      Slot& s = bucket[i];
      if (!in_window(s.ordinal) || s.address == address) {
        victim = &s;
        break;
      }
      if (s.ordinal < victim->ordinal) victim = &s;
    }
    *victim = {address, count_};
  }
  // The free code for `address`, or kFreeByAddress when no live allocation in the window has it.
  uint64_t free_code(uint64_t address, uint32_t bucket_number) {
    Slot* bucket = slots_ + bucket_number * kWays;
    if (!written(bucket)) return kFreeByAddress;
    for (size_t i = 0; i < kWays; ++i) {
      Slot& s = bucket[i];
      if (s.address != address || !in_window(s.ordinal)) continue;
      const uint64_t ordinal = s.ordinal;
      s.ordinal = 0;  // freed: its slot is free for the next block
      const uint64_t age = count_ - ordinal;
      const uint64_t previous = previous_free_;
      previous_free_ = ordinal;
      if (age <= kFreeAgeLimit) return 2 * age + 1;
      return 2 * zigzag(static_cast<int64_t>(ordinal - previous)) + 2;
    }
    return kFreeByAddress;
  }

 private:
  static constexpr uint32_t kBucketBits = kOrdinalWindowBits - 2;  // kWays slots per bucket
  static constexpr uint32_t kPageBits = 12;                        // 64 buckets of 64 bytes
  static constexpr uint32_t kPages = (kOrdinalWindow * sizeof(Slot)) >> kPageBits;

  bool in_window(uint64_t ordinal) const {
    return ordinal > base_ && count_ - ordinal < kOrdinalWindow;
  }
  uint64_t bucket_index(uint64_t address) const {
    return ((address >> 4) * 0x9E3779B97F4A7C15ull) >> (64 - kBucketBits);
  }
  size_t page_of(const Slot* bucket) const {
    return static_cast<size_t>(bucket - slots_) * sizeof(Slot) >> kPageBits;
  }
  bool written(const Slot* bucket) const {
    const size_t page = page_of(bucket);
    return (written_pages_[page / 64] >> (page % 64)) & 1;
  }
  // Marks the bucket's page as written; returns whether it already was.
  bool mark_written(const Slot* bucket) {
    const size_t page = page_of(bucket);
    const uint64_t bit = uint64_t{1} << (page % 64);
    const bool was = written_pages_[page / 64] & bit;
    written_pages_[page / 64] |= bit;
    return was;
  }
  Slot* slots_;
  uint64_t count_ = 0;
  uint64_t base_ = 0;
  uint64_t previous_free_ = 0;
  uint64_t written_pages_[kPages / 64] = {};
};

// The section lengths at the start of a stream-coded payload: varint records bytes, varint
// sizes bytes; the address codes take the rest.
struct FrameSections {
  Cursor records, sizes, addresses;
  // False if the lengths do not fit the payload.
  bool parse(const uint8_t* data, size_t size) {
    Cursor c{data, data + size};
    const uint64_t n_records = c.varint();
    const uint64_t n_sizes = c.varint();
    if (!c.ok || n_records > c.remaining() || n_sizes > c.remaining() - n_records) return false;
    records = {c.p, c.p + n_records};
    sizes = {records.end, records.end + n_sizes};
    addresses = {sizes.end, data + size};
    return true;
  }
};

// A recoded frame is at most this many times its chunk's record bytes: a record of at least 4
// bytes grows by at most 11 (an address coded as 0 + a 10-byte delta where the ring had one
// byte), plus the two section lengths.
inline constexpr uint32_t kMaxRecodeGrowth = 4;

}  // namespace heapline::format

// The map from a live block's address to what the model knows about it: the analyzer's hottest
// data structure, with one lookup per allocation and one per free (millions per second).
//
// Open addressing with linear probing in one flat array, and deletion by backward shift, so no
// tombstones: a table churned by alloc/free pairs for hours probes as short as a fresh one.
//
// Where a key lands: a big table (a million live blocks is 24 MiB of slots) misses the caches
// and the TLB on nearly every random probe, and that latency, not instructions, was most of the
// analysis time of a python3 trace. So the home slot keeps the heap's locality: the 4 KiB page
// of an address picks a pseudo-random run of the table (Fibonacci hashing of the page number)
// and the offset in the page picks the slot in that run, so blocks allocated and freed close
// together in memory (as malloc hands them out) sit close together in the table. That placement
// clusters when pages are dense with live blocks (8-byte blocks of jemalloc, say) and their runs
// overlap; so a key that would land more than kMaxLocalProbe slots past its home switches the
// table, at that size, to plain Fibonacci hashing of the whole address, which spreads any key
// set. Each growth tries locality again. Small tables (they fit in the caches) always scatter.
// Measured against std::unordered_map (one allocation per block), abseil's flat_hash_map
// (tombstones), and scatter-only hashing in README "Analysis speed".
//
// Memory: (8 + sizeof(Value)) bytes per slot; at most 3/4 of the slots are used before the table
// grows, so 4/3 to 8/3 slots per live block (below 16 Ki slots 1/2, 2 to 4: see max_entries; from
// 16 Ki to 1 Mi slots up to 16/3: see next_capacity). It grows with the most blocks live at once,
// never with the number of events. A big table lives in transparent huge pages
// (support/zeroed_pages.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "support/zeroed_pages.h"

namespace heapline::analysis {

template <typename Value>
class AddressMap {
  static_assert(std::is_trivially_copyable_v<Value> && std::is_default_constructible_v<Value>,
                "slots are moved with plain copies during backward shift and growth");

 public:
  size_t size() const { return size_ + (has_zero_ ? 1 : 0); }
  size_t capacity() const { return mask_ + 1; }

  // The value at `address`, inserted (value-initialized) when absent; second: whether inserted.
  // The pointer is valid until the next insertion or erasure.
  std::pair<Value*, bool> try_emplace(uint64_t address) {
    if (address == 0) {  // 0 marks an empty slot, so its key lives beside the table
      const bool inserted = !has_zero_;
      if (inserted) zero_value_ = Value{};
      has_zero_ = true;
      return {&zero_value_, inserted};
    }
    if (size_ >= max_entries_) rehash(next_capacity());
    const size_t start = home(address);
    for (size_t i = start;; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.key == address) return {&s.value, false};
      if (s.key == 0) {
        if (((i - start) & mask_) > max_probe_) {
          set_scatter(true);
          rehash(capacity());
          return try_emplace(address);
        }
        s.key = address;
        s.value = Value{};
        ++size_;
        return {&s.value, true};
      }
    }
  }

  // The value at `address`, or null.
  Value* find(uint64_t address) {
    if (address == 0) return has_zero_ ? &zero_value_ : nullptr;
    if (size_ == 0) return nullptr;
    for (size_t i = home(address);; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.key == address) return &s.value;
      if (s.key == 0) return nullptr;
    }
  }

  // Starts loading the slot where a lookup of `address` begins (a hint; changes nothing).
  // In asm: GCC 12 finds a function whose only effect is __builtin_prefetch free of side
  // effects and deletes the calls to it, and this one never was in the binary. Before the first
  // insertion slots_ is null and home() 0: a prefetch of null, which never faults.
  void prefetch(uint64_t address) const {
    const char* slot = reinterpret_cast<const char*>(slots_ + home(address));
#if defined(__x86_64__) || defined(__i386__)
    asm volatile("prefetcht0 %0" : : "m"(*slot));
#else
    __builtin_prefetch(slot);  // may be deleted as above: a lost hint, nothing worse
#endif
  }

  // Removes `address`, copying its value to `out`; false (and `out` untouched) when absent.
  bool take(uint64_t address, Value& out) {
    if (address == 0) {
      if (!has_zero_) return false;
      out = zero_value_;
      has_zero_ = false;
      return true;
    }
    if (size_ == 0) return false;
    size_t i = home(address);
    for (;; i = (i + 1) & mask_) {
      if (slots_[i].key == address) break;
      if (slots_[i].key == 0) return false;
    }
    out = slots_[i].value;
    // Backward shift: pull later members of the probe run into the hole whenever the hole lies
    // on their way from their home slot, so every remaining key stays reachable without a
    // tombstone.
    for (size_t j = (i + 1) & mask_;; j = (j + 1) & mask_) {
      const uint64_t key = slots_[j].key;
      if (key == 0) break;
      const size_t h = home(key);
      // Distance travelled from home to j, and from home to the hole i (cyclic).
      if (((j - h) & mask_) >= ((j - i) & mask_)) {
        slots_[i] = slots_[j];
        i = j;
      }
    }
    slots_[i].key = 0;
    --size_;
    return true;
  }

  // Whether prefetch() ahead of lookups pays: for a table too big for the caches, whatever
  // its placement. Locality keeps neighbouring blocks in neighbouring slots, but a free still
  // lands on a line not touched since its allocation, and a new heap page on a line not touched
  // since the last growth: a prefetch 32 records ahead took the model thread's CPU on python3
  // from 54 to 43 ms and on containers from 61 to 48 (medians of paired runs). (Earlier
  // measurements of it found nothing because GCC had deleted the prefetch: see prefetch().)
  bool prefetch_pays() const { return capacity() >= kMinLocalCapacity; }

  // Whether the table now spreads keys by their whole address (see the header comment).
  bool scattered() const { return scatter_; }

  // Calls f(address, value) for every entry, in no particular order.
  template <typename F>
  void for_each(F&& f) const {
    if (has_zero_) f(uint64_t{0}, zero_value_);
    for (size_t i = 0; size_ != 0 && i <= mask_; ++i)
      if (slots_[i].key != 0) f(slots_[i].key, slots_[i].value);
  }

 private:
  struct Slot {
    uint64_t key;  // 0 = empty
    Value value;
  };

  static constexpr size_t kMaxLocalProbe = 256;        // slots: a 6 KiB scan at most
  static constexpr size_t kMinLocalCapacity = 1u << 14;  // below, the table fits in L2
  static constexpr size_t kMaxQuadrupledCapacity = 1u << 20;

  // A table that fits in the caches grows at half full, a big one at three quarters: in a
  // small table the time is the probe and backward-shift loops, not misses, and runs half as
  // long cost at most 384 KiB (churn, 256 live blocks: the model thread 64 -> 42 ms CPU; at half
  // full a big table costs more in misses than it saves: python3 91 -> 124 ms, 54 -> 91 MB).
  static size_t max_entries(size_t capacity) {
    return capacity < kMinLocalCapacity ? capacity / 2 : capacity / 4 * 3;
  }

  // A table past the caches but below 1 Mi slots (24 MiB for the model) grows fourfold: moving
  // the entries is memory-bound, and python3's trace (700 k live blocks) moved 765 k of them
  // through six doublings from 16 Ki slots, 252 k through three quadruplings: its report 95 ->
  // 89 ms (medians of 21 paired runs), peak RSS 63 -> 56 MB (fewer old tables alive at once).
  // Above, doubling keeps the slack to a few tens of MiB.
  size_t next_capacity() const {
    if (capacity() < 64) return 64;
    const bool quadruple = capacity() >= kMinLocalCapacity && capacity() < kMaxQuadrupledCapacity;
    return capacity() * (quadruple ? 4 : 2);
  }

  size_t home(uint64_t key) const {
    // Locality: the page's run plus the offset in the page. Scattered: page_shift_ and
    // offset_mask_ are 0, so this is the whole address's Fibonacci hash (no branch on the mode).
    const size_t run = static_cast<size_t>(((key >> page_shift_) * kGolden) >> shift_);
    return (run + static_cast<size_t>((key >> 4) & offset_mask_)) & mask_;
  }

  void set_scatter(bool scatter) {
    scatter_ = scatter;
    page_shift_ = scatter ? 0 : 12;
    offset_mask_ = scatter ? 0 : 255;
    max_probe_ = scatter ? SIZE_MAX : kMaxLocalProbe;
  }

  // Moves every entry into a table of `new_capacity` slots, trying locality first when the
  // table is big enough, and scattering as soon as one key would land too far from home.
  void rehash(size_t new_capacity) {
    ZeroedPages old_storage = std::move(storage_);
    const Slot* old = slots_;
    const size_t old_capacity = old ? capacity() : 0;
    mask_ = new_capacity - 1;
    max_entries_ = max_entries(new_capacity);
    shift_ = 64;
    for (size_t c = new_capacity; c > 1; c >>= 1) --shift_;
    if (new_capacity != old_capacity) set_scatter(new_capacity < kMinLocalCapacity);
    for (;;) {
      storage_ = ZeroedPages(new_capacity * sizeof(Slot));  // every key 0
      slots_ = static_cast<Slot*>(storage_.data());
      if (place_all(old, old_capacity)) return;
      set_scatter(true);  // only a local placement can fail
    }
  }

  // Inserts the entries of `from` (none present yet); false when locality placed one too far.
  bool place_all(const Slot* from, size_t count) {
    for (size_t i = 0; i < count; ++i) {
      if (from[i].key == 0) continue;
      const size_t start = home(from[i].key);
      size_t j = start;
      while (slots_[j].key != 0) j = (j + 1) & mask_;
      if (((j - start) & mask_) > max_probe_) return false;
      slots_[j] = from[i];
    }
    return true;
  }

  static constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;  // 2^64 / golden ratio

  ZeroedPages storage_;
  Slot* slots_ = nullptr;  // in storage_
  size_t mask_ = 0;    // capacity - 1 (capacity is a power of two); 0 before the first insert
  unsigned shift_ = 64;
  size_t size_ = 0;    // entries in slots_ (the zero key not counted)
  size_t max_entries_ = 0;  // the table grows when an insertion finds this many
  bool scatter_ = true;  // home() by the whole address, not by page run + offset
  // What home() and insertion use of the mode (set_scatter).
  unsigned page_shift_ = 0;
  uint64_t offset_mask_ = 0;
  size_t max_probe_ = SIZE_MAX;
  bool has_zero_ = false;
  Value zero_value_{};
};

}  // namespace heapline::analysis

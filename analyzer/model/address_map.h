// The map from a live block's address to what the model knows about it: the analyzer's hottest
// data structure, with one lookup per allocation and one per free (millions per second).
//
// Open addressing with linear probing in one flat array, Fibonacci hashing (multiply by 2^64/phi,
// keep the top bits: heap addresses differ mostly in their middle bits, which the multiply carries
// up), and deletion by backward shift, so no tombstones: a table churned by alloc/free pairs for
// hours probes as short as a fresh one. Measured against std::unordered_map (one allocation per
// block) and abseil's flat_hash_map (tombstones, periodic in-place rehash under churn), see
// README "Analysis speed". Memory: (8 + sizeof(Value)) bytes per slot, at most 4/3 slots per
// live block after growth and twice that just after a doubling; it never grows with the number of
// events, only with the most blocks live at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>

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
    if ((size_ + 1) * 4 > capacity() * 3) grow();
    for (size_t i = home(address);; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.key == address) return {&s.value, false};
      if (s.key == 0) {
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

  size_t home(uint64_t key) const {
    return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_);
  }

  void grow() {
    const size_t new_capacity = slots_ ? capacity() * 2 : 64;
    std::unique_ptr<Slot[]> old = std::move(slots_);
    const size_t old_capacity = old ? capacity() : 0;
    slots_ = std::make_unique<Slot[]>(new_capacity);  // value-initialized: every key 0
    mask_ = new_capacity - 1;
    shift_ = 64;
    for (size_t c = new_capacity; c > 1; c >>= 1) --shift_;
    for (size_t i = 0; i < old_capacity; ++i) {
      if (old[i].key == 0) continue;
      size_t j = home(old[i].key);
      while (slots_[j].key != 0) j = (j + 1) & mask_;
      slots_[j] = old[i];
    }
  }

  std::unique_ptr<Slot[]> slots_;
  size_t mask_ = 0;    // capacity - 1 (capacity is a power of two); 0 before the first insert
  unsigned shift_ = 64;
  size_t size_ = 0;    // entries in slots_ (the zero key not counted)
  bool has_zero_ = false;
  Value zero_value_{};
};

}  // namespace heapline::analysis

// A live block's size in 32 bits, for the live maps' slots: with the stack id, a block's value is
// 8 bytes and a slot 16 (4 to a cache line instead of 2.7), so a map of 700 k blocks (python3)
// is a third smaller and misses less. The rare block of 4 GiB or more keeps its size here,
// by address, and its slot holds kHuge.
#pragma once

#include <cstdint>
#include <unordered_map>

namespace heapline::analysis {

class BlockSizes {
 public:
  static constexpr uint32_t kHuge = UINT32_MAX;

  // The slot's form of `size` for the block at `address`. Inline, once per allocation.
  [[gnu::always_inline]] uint32_t pack(uint64_t address, uint64_t size) {
    if (size < kHuge) [[likely]] return static_cast<uint32_t>(size);
    return keep_huge(address, size);
  }
  // The size of the block at `address` whose slot held `packed`, when it ends (forgets it).
  // Inline, once per free.
  [[gnu::always_inline]] uint64_t unpack(uint64_t address, uint32_t packed) {
    if (packed != kHuge) [[likely]] return packed;
    return take_huge(address);
  }
  // The same for a block that stays live.
  uint64_t peek(uint64_t address, uint32_t packed) const {
    return packed != kHuge ? packed : huge_.at(address);
  }

 private:
  // Out of line: the hot loops that inline pack and unpack keep only the comparison.
  [[gnu::noinline]] uint32_t keep_huge(uint64_t address, uint64_t size) {
    huge_[address] = size;
    return kHuge;
  }
  [[gnu::noinline]] uint64_t take_huge(uint64_t address) {
    const auto it = huge_.find(address);
    const uint64_t size = it->second;
    huge_.erase(it);
    return size;
  }

  std::unordered_map<uint64_t, uint64_t> huge_;
};

}  // namespace heapline::analysis

// AddressMap (analyzer/model/address_map.h) against std::unordered_map on the key patterns a
// heap produces and on the ones that defeat its locality-keeping placement: every operation must
// give the same answer, through growth, the switch to scattered placement, and backward-shift
// deletion.
#include "model/address_map.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <unordered_map>
#include <vector>

namespace heapline::analysis {
namespace {

struct Block {
  uint64_t size;
  uint32_t stack;
};

// Applies the same operations to both maps and checks they agree after each one.
class Checked {
 public:
  void insert(uint64_t address, uint64_t size) {
    auto [value, inserted] = map_.try_emplace(address);
    const bool expected_inserted = !reference_.count(address);
    ASSERT_EQ(inserted, expected_inserted) << std::hex << address;
    if (!inserted) {
      ASSERT_EQ(value->size, reference_[address].size);
    } else {
      ASSERT_EQ(value->size, 0u);  // value-initialized
    }
    *value = Block{size, static_cast<uint32_t>(size & 0xffff)};
    reference_[address] = *value;
    ASSERT_EQ(map_.size(), reference_.size());
  }
  void take(uint64_t address) {
    Block out{12345, 6};
    const bool found = map_.take(address, out);
    auto it = reference_.find(address);
    ASSERT_EQ(found, it != reference_.end()) << std::hex << address;
    if (found) {
      ASSERT_EQ(out.size, it->second.size);
      ASSERT_EQ(out.stack, it->second.stack);
      reference_.erase(it);
    } else {
      ASSERT_EQ(out.size, 12345u);  // untouched
    }
    ASSERT_EQ(map_.size(), reference_.size());
  }
  // Every key is found with its value, absent keys are not, for_each visits each entry once.
  void verify_all(const std::vector<uint64_t>& absent = {}) {
    for (const auto& [address, block] : reference_) {
      const Block* found = map_.find(address);
      ASSERT_NE(found, nullptr) << std::hex << address;
      ASSERT_EQ(found->size, block.size);
    }
    for (uint64_t address : absent) {
      if (!reference_.count(address)) {
        ASSERT_EQ(map_.find(address), nullptr);
      }
    }
    size_t visited = 0;
    map_.for_each([&](uint64_t address, const Block& block) {
      ++visited;
      auto it = reference_.find(address);
      ASSERT_NE(it, reference_.end());
      ASSERT_EQ(block.size, it->second.size);
    });
    ASSERT_EQ(visited, reference_.size());
  }
  const AddressMap<Block>& map() const { return map_; }
  size_t size() const { return reference_.size(); }

 private:
  AddressMap<Block> map_;
  std::unordered_map<uint64_t, Block> reference_;
};

TEST(AddressMap, EmptyMapFindsNothing) {
  AddressMap<Block> map;
  Block out{};
  EXPECT_EQ(map.size(), 0u);
  EXPECT_EQ(map.find(0x1000), nullptr);
  EXPECT_EQ(map.find(0), nullptr);
  EXPECT_FALSE(map.take(0x1000, out));
  EXPECT_FALSE(map.take(0, out));
}

TEST(AddressMap, AddressZeroIsAnOrdinaryKey) {
  Checked c;
  ASSERT_NO_FATAL_FAILURE(c.insert(0, 7));
  ASSERT_NO_FATAL_FAILURE(c.insert(16, 8));
  ASSERT_NO_FATAL_FAILURE(c.insert(0, 9));  // already there: keeps its slot, value replaced
  ASSERT_NO_FATAL_FAILURE(c.verify_all());
  ASSERT_NO_FATAL_FAILURE(c.take(0));
  ASSERT_NO_FATAL_FAILURE(c.take(0));
  ASSERT_NO_FATAL_FAILURE(c.verify_all({0}));
}

// A heap's churn: blocks handed out from a growing top, frees at random among the live ones,
// big and small sizes: the table grows past the size where it keeps locality.
TEST(AddressMap, HeapChurnMatchesUnorderedMap) {
  Checked c;
  std::mt19937_64 rng(42);
  std::vector<uint64_t> live;
  uint64_t top = 0x55d0c0de0000;
  const uint64_t sizes[] = {32, 48, 64, 96, 128, 4096, 70000};
  for (int i = 0; i < 300000; ++i) {
    if (!live.empty() && rng() % 100 < 45) {
      const size_t j = rng() % live.size();
      ASSERT_NO_FATAL_FAILURE(c.take(live[j]));
      live[j] = live.back();
      live.pop_back();
    } else {
      top += sizes[rng() % 7];
      live.push_back(top);
      ASSERT_NO_FATAL_FAILURE(c.insert(top, i));
    }
  }
  ASSERT_GT(c.size(), 20000u);
  ASSERT_NO_FATAL_FAILURE(c.verify_all({0x55d0c0de0000, top + 16, 1}));
  // Blocks of ordinary sizes spread thinly over their pages: the table keeps locality.
  EXPECT_FALSE(c.map().scattered());
  for (uint64_t address : live) ASSERT_NO_FATAL_FAILURE(c.take(address));
  ASSERT_NO_FATAL_FAILURE(c.verify_all());
  EXPECT_EQ(c.map().size(), 0u);
}

// Memory stays proportional to the live blocks: after each insertion the table has room for
// them at its load limit, and at most 4 slots per entry while it fits in the caches, 16/3 while
// it quadruples (16 Ki to 1 Mi slots), 8/3 above.
TEST(AddressMap, CapacityStaysWithinItsBoundOfTheEntries) {
  AddressMap<Block> map;
  size_t growths = 0, last_capacity = 0;
  for (uint64_t n = 1; n <= 1'500'000; ++n) {
    map.try_emplace(0x7f0000000000 + 48 * n);
    const size_t capacity = map.capacity();
    if (capacity == last_capacity) continue;
    ++growths;
    last_capacity = capacity;
    ASSERT_GE(capacity, n * 4 / 3) << n;
    const double per_entry = static_cast<double>(capacity) / static_cast<double>(n);
    if (capacity <= (1u << 14)) {
      ASSERT_LE(per_entry, n < 32 ? 64.0 : 4.0) << n;
    } else if (capacity <= (1u << 20)) {
      ASSERT_LE(per_entry, 16.0 / 3 + 0.01) << n;
    } else {
      ASSERT_LE(per_entry, 8.0 / 3 + 0.01) << n;
    }
  }
  EXPECT_EQ(map.size(), 1'500'000u);
  // 64 to 16 Ki doubling, then to 1 Mi in three steps of four, then 2 Mi.
  EXPECT_EQ(growths, 1u + 8 + 3 + 1);
}

// 8-byte blocks packed back to back (a jemalloc small-size slab): pages full of live blocks make
// the page runs overlap, so the table must switch to scattered placement and stay correct.
TEST(AddressMap, DensePagesSwitchToScatteredPlacement) {
  Checked c;
  const uint64_t base = 0x7f3a00000000;
  std::vector<uint64_t> keys;
  for (uint64_t i = 0; i < 200000; ++i) keys.push_back(base + 8 * i);
  for (uint64_t k : keys) ASSERT_NO_FATAL_FAILURE(c.insert(k, k - base));
  EXPECT_TRUE(c.map().scattered());
  // Its last doublings moved it between tables in mmap'ed huge-page memory (support/zeroed_pages.h).
  ASSERT_GT(c.map().capacity() * (8 + sizeof(Block)), 2 * ZeroedPages::kHugePage);
  ASSERT_NO_FATAL_FAILURE(c.verify_all({base - 8, base + 8 * 200000}));
  std::shuffle(keys.begin(), keys.end(), std::mt19937_64(7));
  for (size_t i = 0; i < keys.size(); i += 2) ASSERT_NO_FATAL_FAILURE(c.take(keys[i]));
  ASSERT_NO_FATAL_FAILURE(c.verify_all());
  for (size_t i = 0; i < keys.size(); i += 2) ASSERT_NO_FATAL_FAILURE(c.insert(keys[i], 1));
  ASSERT_NO_FATAL_FAILURE(c.verify_all());
}

// Keys that share their low bits (page-aligned and 64 KiB-aligned blocks, as mmap'ed big
// allocations are) and keys that collide in the page-run hash must all stay reachable.
TEST(AddressMap, AlignedAndCollidingKeys) {
  Checked c;
  for (uint64_t i = 1; i <= 50000; ++i) ASSERT_NO_FATAL_FAILURE(c.insert(i << 12, i));
  for (uint64_t i = 1; i <= 20000; ++i) ASSERT_NO_FATAL_FAILURE(c.insert((i << 16) + 16, i));
  for (uint64_t i = 1; i <= 50000; i += 3) ASSERT_NO_FATAL_FAILURE(c.take(i << 12));
  ASSERT_NO_FATAL_FAILURE(c.verify_all({3ull << 30, 17}));
  // Top bits only: keys whose page numbers differ only above bit 52.
  for (uint64_t i = 1; i < 4096; ++i) ASSERT_NO_FATAL_FAILURE(c.insert(i << 52, i));
  ASSERT_NO_FATAL_FAILURE(c.verify_all());
}

// Whether this kernel prefaults on MADV_POPULATE_WRITE (Linux 5.14 on).
bool kernel_populates() {
  void* probe = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  const bool ok = probe != MAP_FAILED && madvise(probe, 4096, MADV_POPULATE_WRITE) == 0;
  if (probe != MAP_FAILED) munmap(probe, 4096);
  return ok;
}

// The table's storage: zero bytes, writable, a big one starting on a huge-page boundary, a mapped
// one faulted in before its first touch, and moved (not copied) with its owner.
TEST(ZeroedPages, SmallAndBigAreZeroAndBigIsHugePageAligned) {
  const bool populates = kernel_populates();
  for (const size_t bytes : {size_t{24}, (size_t{64} << 10) - 8, size_t{64} << 10,
                             (size_t{1} << 20) + 24, ZeroedPages::kHugePage,
                             3 * ZeroedPages::kHugePage + 24}) {
    ZeroedPages pages(bytes);
    auto* p = static_cast<unsigned char*>(pages.data());
    ASSERT_NE(p, nullptr);
    if (bytes >= ZeroedPages::kSmallestMapping) {
      const uintptr_t page_size = bytes >= ZeroedPages::kHugePage ? ZeroedPages::kHugePage : 4096;
      EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % page_size, 0u) << bytes;
      if (populates) {
        // Resident before anything read or wrote it: no zero-page mapping to replace later.
        std::vector<unsigned char> resident((bytes + 4095) / 4096);
        ASSERT_EQ(mincore(p, bytes, resident.data()), 0);
        EXPECT_TRUE(std::all_of(resident.begin(), resident.end(), [](unsigned char r) { return r & 1; }))
            << bytes;
      }
    }
    EXPECT_TRUE(std::all_of(p, p + bytes, [](unsigned char b) { return b == 0; })) << bytes;
    p[0] = 1;
    p[bytes - 1] = 2;
    ZeroedPages moved(std::move(pages));
    EXPECT_EQ(moved.data(), p);
    EXPECT_EQ(pages.data(), nullptr);
    EXPECT_EQ(static_cast<unsigned char*>(moved.data())[bytes - 1], 2);
  }
  EXPECT_EQ(ZeroedPages(0).data(), nullptr);
}

}  // namespace
}  // namespace heapline::analysis

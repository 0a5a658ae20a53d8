#include "unwind_rule_cache.h"

#include <sys/mman.h>

#include <new>

namespace heapline::preload {

UnwindRuleCache& unwind_rule_cache() {
  // Placement into static storage: no constructor order or atexit destructor to worry about.
  alignas(UnwindRuleCache) static unsigned char storage[sizeof(UnwindRuleCache)];
  static UnwindRuleCache* instance = new (storage) UnwindRuleCache();
  return *instance;
}

bool UnwindRuleCache::init() {
  if (entries_) return true;
  // mmap, not malloc: the recorder's memory never goes through the hooked allocator.
  void* mem = mmap(nullptr, (kMask + 1) * sizeof(Entry), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) return false;
  entries_ = static_cast<Entry*>(mem);
  return true;
}

UnwindRule UnwindRuleCache::rule_slow(uintptr_t pc, bool is_return_address, uint64_t key,
                                      uint32_t generation) {
  if (!entries_) return find_unwind_rule(pc, is_return_address);
  uint64_t i = slot_of(key);
  for (int probe = 0; probe < kMaxProbes; ++probe, i = (i + 1) & kMask) {
    Entry& e = entries_[i];
    uint64_t k = e.key.load(std::memory_order_acquire);
    if (k == 0) {
      if (e.key.compare_exchange_strong(k, key, std::memory_order_acq_rel)) k = key;
    }
    if (k != key) continue;
    const uint64_t bits = e.rule.load(std::memory_order_acquire);
    if ((bits & 3) != UnwindRule::kUnknown &&
        UnwindRule::generation_of(bits) == (generation & UnwindRule::kGenerationMask))
      return UnwindRule::unpack(bits);
    const UnwindRule rule = find_unwind_rule(pc, is_return_address);
    const uint64_t packed = rule.pack(generation);
    e.rule.store(packed, std::memory_order_release);
    return UnwindRule::unpack(packed);
  }
  return find_unwind_rule(pc, is_return_address);  // the table is full around this slot
}

}  // namespace heapline::preload

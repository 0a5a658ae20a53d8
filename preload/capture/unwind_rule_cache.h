// A process-wide cache of unwind rules by code address, shared by all threads without locks.
//
// Open addressing over a fixed mmap'ed table: an entry's address is claimed once by CAS and never
// changes; its rule word (rule and generation, 64 bits) is stored after it is computed. Threads
// that miss on the same address compute the same rule and store the same word. dlclose bumps the
// generation instead of clearing entries (which would race with readers): a rule of an older
// generation counts as a miss and is computed again, as code may now be mapped there anew.
// When the table is full, rules are computed on every lookup (correct, slower).
#pragma once

#include <atomic>
#include <cstdint>

#include "unwind_rule.h"

namespace heapline::preload {

class UnwindRuleCache {
 public:
  // Maps the table (untouched pages cost nothing). False if mmap fails: then every lookup
  // computes its rule.
  bool init();
  // The generation rules are valid for; load it once per walk and pass it to rule_for.
  uint32_t generation() const { return generation_.load(std::memory_order_acquire); }
  UnwindRule rule_for(uintptr_t pc, bool is_return_address, uint32_t generation) {
    const uint64_t key = pc << 1 | (is_return_address ? 1 : 0);
    if (__builtin_expect(entries_ != nullptr, 1)) {
      // The first probe inline: nearly every lookup after warm-up ends here.
      const Entry& e = entries_[slot_of(key)];
      if (e.key.load(std::memory_order_relaxed) == key) {
        const uint64_t bits = e.rule.load(std::memory_order_acquire);
        if ((bits & 3) != UnwindRule::kUnknown &&
            UnwindRule::generation_of(bits) == (generation & UnwindRule::kGenerationMask))
          return UnwindRule::unpack(bits);
      }
    }
    return rule_slow(pc, is_return_address, key, generation);
  }
  // After dlclose: rules of unloaded code must not be used for what is mapped there next.
  void invalidate() { generation_.fetch_add(1, std::memory_order_acq_rel); }

 private:
  struct Entry {
    std::atomic<uint64_t> key;   // pc << 1 | is_return_address; 0 = free
    std::atomic<uint64_t> rule;  // UnwindRule::pack(generation); 0 = being computed
  };
  static constexpr int kBits = 16;  // 65536 entries, 1 MiB of address space
  static constexpr uint64_t kMask = (1ull << kBits) - 1;
  static constexpr int kMaxProbes = 32;

  static uint64_t slot_of(uint64_t key) { return (key * 0x9E3779B97F4A7C15ull) >> (64 - kBits); }
  UnwindRule rule_slow(uintptr_t pc, bool is_return_address, uint64_t key, uint32_t generation);

  Entry* entries_ = nullptr;
  std::atomic<uint32_t> generation_{0};
};

UnwindRuleCache& unwind_rule_cache();

}  // namespace heapline::preload

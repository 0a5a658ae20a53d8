// Gives each distinct call stack a small id, so a stack is written to the trace once and every
// allocation refers to it by id.
//
// Lock-free lookup and insert in open-addressing tables keyed by the stack's 64-bit hash.
// Tables never move: when the newest one is half full a table twice its size is added (under a
// spin lock, rare) and inserts go there; lookups search newest to oldest. Two threads that insert
// the same new stack while a table is being added may give it two ids: harmless, the analyzer
// merges stacks by content. Two different stacks with the same 64-bit hash would share an id
// (probability ~n^2/2^65: about 3e-8 for a million distinct stacks).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace heapline::preload {

class StackInterner {
 public:
  struct Result {
    uint32_t id;
    bool is_new;  // the caller must write the kStack record
  };
  // By the stack's stack_hash (capture/stack_hash.h), which capture computes as it walks.
  Result intern(uint64_t hash);
  // In a forked child: the parent's ids live in the parent's trace. Start again.
  void reset_after_fork();

 private:
  struct Entry {
    std::atomic<uint64_t> hash;  // 0 = empty
    std::atomic<uint32_t> id;    // 0 = being inserted
    uint32_t pad;
  };
  struct Table {
    Entry* entries;
    uint64_t mask;
    std::atomic<uint64_t> count;
  };
  static constexpr int kMaxTables = 20;
  static constexpr int kFirstTableBits = 14;

  Table* newest();
  bool add_table();

  Table tables_[kMaxTables] = {};
  std::atomic<int> table_count_{0};
  std::atomic<uint32_t> next_id_{1};
  std::atomic<bool> growing_{false};
};

StackInterner& stack_interner();

}  // namespace heapline::preload

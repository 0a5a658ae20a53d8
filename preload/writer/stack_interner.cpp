#include "stack_interner.h"

#include <sys/mman.h>

#include <new>

namespace heapline::preload {

StackInterner& stack_interner() {
  alignas(StackInterner) static unsigned char storage[sizeof(StackInterner)];
  static StackInterner* instance = new (storage) StackInterner();
  return *instance;
}

bool StackInterner::add_table() {
  bool expected = false;
  if (!growing_.compare_exchange_strong(expected, true, std::memory_order_acquire)) return true;
  const int n = table_count_.load(std::memory_order_acquire);
  bool ok = n < kMaxTables;
  if (ok) {
    const uint64_t capacity = 1ull << (kFirstTableBits + n);
    // mmap, not malloc: the recorder's memory never goes through the hooked allocator. Pages are
    // touched only as entries land in them.
    void* mem = mmap(nullptr, capacity * sizeof(Entry), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    ok = mem != MAP_FAILED;
    if (ok) {
      Table& t = tables_[n];
      t.entries = static_cast<Entry*>(mem);
      t.mask = capacity - 1;
      t.count.store(0);
      table_count_.store(n + 1, std::memory_order_release);
    }
  }
  growing_.store(false, std::memory_order_release);
  return ok;
}

StackInterner::Table* StackInterner::newest() {
  int n = table_count_.load(std::memory_order_acquire);
  if (n == 0) {
    if (!add_table()) return nullptr;
    while ((n = table_count_.load(std::memory_order_acquire)) == 0) {
    }
  }
  return &tables_[n - 1];
}

StackInterner::Result StackInterner::intern(uint64_t hash) {
  const uint64_t h = hash ? hash : 1;  // 0 marks an empty entry
  Table* top = newest();
  if (!top) return {0, false};
  // Lookups: every table, newest first (a stack seen early lives in an old table).
  const int tables = table_count_.load(std::memory_order_acquire);
  for (int ti = tables - 1; ti >= 0; --ti) {
    Table& t = tables_[ti];
    for (uint64_t i = h & t.mask;; i = (i + 1) & t.mask) {
      const uint64_t eh = t.entries[i].hash.load(std::memory_order_acquire);
      if (eh == 0) break;
      if (eh == h) {
        uint32_t id;
        while ((id = t.entries[i].id.load(std::memory_order_acquire)) == 0) {
        }
        return {id, false};
      }
    }
  }
  // Insert into the newest table.
  Table& t = *top;
  for (uint64_t i = h & t.mask;; i = (i + 1) & t.mask) {
    uint64_t expected = 0;
    if (t.entries[i].hash.compare_exchange_strong(expected, h, std::memory_order_acq_rel)) {
      const uint32_t id = next_id_.fetch_add(1, std::memory_order_relaxed);
      t.entries[i].id.store(id, std::memory_order_release);
      if (t.count.fetch_add(1, std::memory_order_relaxed) + 1 > (t.mask + 1) / 2) add_table();
      return {id, true};
    }
    if (expected == h) {
      uint32_t id;
      while ((id = t.entries[i].id.load(std::memory_order_acquire)) == 0) {
      }
      return {id, false};
    }
  }
}

void StackInterner::reset_after_fork() {
  // The child is single-threaded here; unmap the parent's tables (a private copy in the child).
  const int n = table_count_.load();
  for (int i = 0; i < n; ++i) {
    munmap(tables_[i].entries, (tables_[i].mask + 1) * sizeof(Entry));
    tables_[i].entries = nullptr;
    tables_[i].mask = 0;
    tables_[i].count.store(0);
  }
  table_count_.store(0);
  next_id_.store(1);
  growing_.store(false);
}

}  // namespace heapline::preload

#include "bootstrap_pool.h"

#include <atomic>
#include <cstdint>
#include <cstring>

namespace heapline::preload::bootstrap_pool {
alignas(64) unsigned char g_pool[kPoolSize];

namespace {

std::atomic<size_t> g_used{0};

}  // namespace

void* allocate(size_t size, size_t alignment) {
  if (alignment < 16) alignment = 16;
  if (size > kPoolSize) return nullptr;
  size_t offset = g_used.load(std::memory_order_relaxed);
  size_t start;
  do {
    start = (offset + sizeof(size_t) + alignment - 1) & ~(alignment - 1);
    if (start + size > kPoolSize) return nullptr;
  } while (!g_used.compare_exchange_weak(offset, start + size));
  std::memcpy(g_pool + start - sizeof(size_t), &size, sizeof size);
  return g_pool + start;  // static storage: already zeroed, as calloc wants
}

size_t bytes_handed_out() { return g_used.load(std::memory_order_acquire); }

size_t usable_size(const void* p) {
  size_t size;
  std::memcpy(&size, static_cast<const unsigned char*>(p) - sizeof(size_t), sizeof size);
  return size;
}

}  // namespace heapline::preload::bootstrap_pool

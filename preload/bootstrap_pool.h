// A small static bump allocator for the allocations made while the real allocator is not yet
// known: dlsym(RTLD_NEXT, ...) calls calloc/malloc itself. Blocks are never reused; free of a pool
// block is a no-op. Each block carries its size in front so realloc and malloc_usable_size work.
#pragma once

#include <cstddef>

namespace heapline::preload::bootstrap_pool {

constexpr size_t kPoolSize = 256 * 1024;
extern unsigned char g_pool[kPoolSize];

void* allocate(size_t size, size_t alignment = 16);  // nullptr when the pool is exhausted
// Inline: every free asks it first.
inline bool owns(const void* p) {
  const auto* c = static_cast<const unsigned char*>(p);
  return c >= g_pool && c < g_pool + kPoolSize;
}
size_t usable_size(const void* p);
// How far into the pool blocks have been handed out (the sampler keeps them off its fast path).
size_t bytes_handed_out();

}  // namespace heapline::preload::bootstrap_pool

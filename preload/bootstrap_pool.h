// A small static bump allocator for the allocations made while the real allocator is not yet
// known: dlsym(RTLD_NEXT, ...) calls calloc/malloc itself. Blocks are never reused; free of a pool
// block is a no-op. Each block carries its size in front so realloc and malloc_usable_size work.
#pragma once

#include <cstddef>

namespace heapline::preload::bootstrap_pool {

void* allocate(size_t size, size_t alignment = 16);  // nullptr when the pool is exhausted
bool owns(const void* p);
size_t usable_size(const void* p);

}  // namespace heapline::preload::bootstrap_pool

// The hash that names a call stack in the stack interner, computed from the outermost frame in:
// a stack's hash extends the hash of its callers' frames, so a walk that reuses cached outer
// frames (rule_walk.h) reuses their hash too and hashes only the frames it walked.
#pragma once

#include <cstddef>
#include <cstdint>

namespace heapline::preload {

constexpr uint64_t kStackHashSeed = 0x9E3779B97F4A7C15ull;

// A multiply-xorshift mix: return addresses are already well spread, so this only has to make
// order and depth matter.
inline uint64_t stack_hash_step(uint64_t callers_hash, uint64_t pc) {
  uint64_t h = callers_hash ^ pc;
  h *= 0xBF58476D1CE4E5B9ull;
  return h ^ (h >> 31);
}

// The hash of frames[0..count), frames[0] innermost.
inline uint64_t stack_hash(const uint64_t* frames, size_t count) {
  uint64_t h = kStackHashSeed;
  for (size_t i = count; i-- > 0;) h = stack_hash_step(h, frames[i]);
  return h;
}

}  // namespace heapline::preload

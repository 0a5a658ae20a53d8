// Appends records to the calling thread's ring chunk. Lock-free: the chunk belongs to this thread.
//
//   uint8_t* p = begin_record(t, RecordKind::kFree, now, kMaxFreeBody);
//   if (p) { p = put_...(p, ...); commit_record(t, p, now); }
//
// begin_record writes the kind byte and the time delta and returns where the body goes, having
// made sure `max_body` more bytes fit (switching to a fresh chunk if not). commit_record publishes
// the record by advancing the chunk's `used` with a release store: from then on it survives a
// crash of the process.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../thread_state.h"
#include "heapline/trace_format.h"

namespace heapline::preload {

// `time_ns` is relative to the trace start. Returns null (and the caller drops the record) when
// no chunk could be had.
uint8_t* begin_record(ThreadState& t, format::RecordKind kind, uint64_t time_ns, size_t max_body);
void commit_record(ThreadState& t, uint8_t* end, uint64_t time_ns);

// Seals the thread's chunk (thread exit, fork, exec) so the drain can take it.
void release_thread_chunk(ThreadState& t);

inline uint8_t* put_string(uint8_t* p, const char* s, size_t n) {
  p = format::put_varint(p, n);
  for (size_t i = 0; i < n; ++i) *p++ = static_cast<uint8_t>(s[i]);
  return p;
}

}  // namespace heapline::preload

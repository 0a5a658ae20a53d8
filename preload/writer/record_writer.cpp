#include "record_writer.h"

#include <unistd.h>

#include <algorithm>

#include "trace_file.h"

namespace heapline::preload {

using format::put_varint;

namespace {

// Records that may wait for a chunk switch to a new one while the last bytes of theirs are still
// free, and leave those to records that may not wait: a signal handler's allocation that
// interrupts a hook of the same thread (ThreadState::never_wait). Without the reserve, such a
// handler that finds the chunk full while the ring is full too (the drain behind, under load)
// has nowhere to write and its events are lost. 4 KiB hold a handler's malloc and free with a
// new 64-frame stack several times over; at most an eighth of a (small) chunk.
size_t g_nested_reserve = 0;

bool switch_chunk(ThreadState& t, uint64_t time_ns, size_t needed) {
  TraceFile& file = trace_file();
  if (needed + sizeof(format::ChunkHeader) > file.chunk_size()) return false;
  g_nested_reserve = std::min<size_t>(4096, file.chunk_size() / 8);
  release_thread_chunk(t);
  // The chunk is labelled with its thread: a thread whose first record is not an allocation (a
  // module record written by its dlopen) must not label it 0.
  if (t.tid == 0) t.tid = static_cast<uint32_t>(gettid());
  format::ChunkHeader* c = file.acquire_chunk(t.tid, time_ns, /*may_wait=*/!t.never_wait);
  if (!c) return false;
  t.chunk = c;
  t.write_ptr = TraceFile::chunk_data(c);
  t.limit = file.backed_end(c);
  t.last_time_ns = time_ns;
  t.last_address = 0;
  return true;
}

// Room for `wanted` more bytes in the thread's chunk by giving it more disk blocks, when it has
// blocks for a part of it only (sampling mode, see TraceFile::extend_backing).
bool grow_chunk(ThreadState& t, size_t wanted) {
  TraceFile& file = trace_file();
  const auto* start = reinterpret_cast<const uint8_t*>(t.chunk);
  if (t.limit == start + file.chunk_size()) return false;
  const size_t end = std::min<size_t>(file.chunk_size(), (t.write_ptr - start) + wanted);
  if (!file.extend_backing(t.chunk, static_cast<uint32_t>(end), /*allocate_blocks=*/!t.never_wait))
    return false;
  t.limit = file.backed_end(t.chunk);
  return static_cast<size_t>(t.limit - t.write_ptr) >= wanted;
}

}  // namespace

uint8_t* begin_record(ThreadState& t, format::RecordKind kind, uint64_t time_ns, size_t max_body) {
  const size_t needed = 1 + format::kMaxVarintSize + max_body;
  const size_t reserve = t.never_wait ? 0 : g_nested_reserve;
  if (!t.chunk || static_cast<size_t>(t.limit - t.write_ptr) < needed + reserve) {
    if (!(t.chunk && grow_chunk(t, needed + reserve)) && !switch_chunk(t, time_ns, needed))
      return nullptr;
  }
  uint8_t* p = t.write_ptr;
  *p++ = static_cast<uint8_t>(kind);
  return put_varint(p, time_ns > t.last_time_ns ? time_ns - t.last_time_ns : 0);
}

void commit_record(ThreadState& t, uint8_t* end, uint64_t time_ns) {
  t.write_ptr = end;
  if (time_ns > t.last_time_ns) t.last_time_ns = time_ns;
  const auto used = static_cast<uint32_t>(end - TraceFile::chunk_data(t.chunk));
  t.chunk->used.store(used, std::memory_order_release);
  // A thread past its TLS destructor may never come back: do not let it sit on a chunk.
  if (t.exiting) release_thread_chunk(t);
}

void release_thread_chunk(ThreadState& t) {
  if (!t.chunk) return;
  trace_file().seal_chunk(t.chunk);
  t.chunk = nullptr;
  t.write_ptr = t.limit = nullptr;
}

}  // namespace heapline::preload

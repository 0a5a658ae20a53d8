// The body of TraceReader::read, a template over the visitor so that a final visitor (the
// pipeline's batch writer) gets each record through a direct, inlined call: the virtual call
// and the record struct built for it were ~50 of the reader thread's ~290 instructions a record.
// Included by trace_reader.cpp (for RecordVisitor) and record_pipeline.cpp only.
#pragma once

#include <zstd.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <memory>
#include <queue>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "chunk_decoder.h"
#include "trace_error.h"
#include "trace_reader.h"

namespace heapline::analysis {

namespace reader_detail {

// One chunk being merged: its decoder and, for a compressed frame, the decompressed bytes.
struct OpenChunk {
  std::vector<uint8_t> buffer;
  std::unique_ptr<ChunkDecoder> decoder;
  uint64_t seq;
  uint32_t tid;
  bool ends_stream;
};

// A thread's compression stream (see FrameHeader): its frames decompress in order through one
// zstd context, and their records through one StreamState.
struct Stream {
  ZSTD_DCtx* dctx = nullptr;
  uint64_t last_seq = 0;
  StreamState coding;
  Stream() = default;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream() { ZSTD_freeDCtx(dctx); }
};

// Records of different chunks at the same time: frees first, so an address freed by one
// thread and returned by malloc to another is never seen live twice. (The chunks being merged
// always belong to different threads: see read().)
inline int tie_rank(format::RecordKind k) { return k == format::RecordKind::kFree ? 0 : 1; }

struct Later {
  bool operator()(const OpenChunk* a, const OpenChunk* b) const {
    const uint64_t ta = a->decoder->time_ns(), tb = b->decoder->time_ns();
    if (ta != tb) return ta > tb;
    const int ra = tie_rank(a->decoder->kind()), rb = tie_rank(b->decoder->kind());
    if (ra != rb) return ra > rb;
    return a->seq > b->seq;
  }
};

}  // namespace reader_detail

template <typename Visitor>
void TraceReader::read_records(Visitor& visitor) {
  using namespace reader_detail;
  std::vector<std::unique_ptr<OpenChunk>> storage;
  std::priority_queue<OpenChunk*, std::vector<OpenChunk*>, Later> heap;
  std::vector<std::unique_ptr<OpenChunk>> free_list;
  size_t next = 0;
  // A thread's chunks are consecutive stretches of its program order (it takes a new chunk only
  // after sealing its last), so at most one chunk per thread is merged at a time and the next one
  // waits for it to run out. Merging two chunks of one thread by time would let the tie rule put
  // "free(X)" at the start of the newer chunk before "realloc returned X" at the end of the
  // older one when both fall in the same tick, leaving X live twice.
  std::unordered_map<uint32_t, std::deque<size_t>> waiting;  // tid -> indices into sources_
  std::unordered_set<uint32_t> merging;                      // tids with a chunk in the heap
  std::unordered_map<uint32_t, Stream> streams;              // tid -> its open stream

  // Returns whether the chunk has records (and is now in the heap).
  auto open_source = [&](const Source& s) -> bool {
    std::unique_ptr<OpenChunk> chunk;
    if (!free_list.empty()) {
      chunk = std::move(free_list.back());
      free_list.pop_back();
    } else {
      chunk = std::make_unique<OpenChunk>();
    }
    chunk->seq = s.seq;
    chunk->tid = s.tid;
    chunk->ends_stream = false;
    const uint8_t* data = map_ + s.offset;
    StreamState* coding = nullptr;
    if (s.compressed) {
      Stream& stream = streams[s.tid];
      if (s.prev_seq == 0) {
        if (!stream.dctx && !(stream.dctx = ZSTD_createDCtx())) throw std::bad_alloc();
        ZSTD_DCtx_reset(stream.dctx, ZSTD_reset_session_only);
        stream.coding.reset();
      } else if (!stream.dctx || stream.last_seq != s.prev_seq) {
        throw TraceError(info_.path, s.offset - sizeof(format::FrameHeader),
                         "compressed frame continues a stream whose frame " +
                             std::to_string(s.prev_seq) + " is missing");
      }
      stream.last_seq = s.seq;
      chunk->ends_stream = s.last_in_stream;
      chunk->buffer.resize(s.raw_size);
      ZSTD_outBuffer out{chunk->buffer.data(), s.raw_size, 0};
      ZSTD_inBuffer in{data, s.stored_size, 0};
      size_t status = 0;
      while (in.pos < in.size || (status != 0 && out.pos < out.size)) {
        const size_t before_in = in.pos, before_out = out.pos;
        status = ZSTD_decompressStream(stream.dctx, &out, &in);
        if (ZSTD_isError(status)) break;
        if (in.pos == before_in && out.pos == before_out) break;  // no progress: output full
      }
      if (ZSTD_isError(status) || in.pos != in.size || out.pos != s.raw_size)
        throw TraceError(info_.path, s.offset,
                         std::string("corrupt compressed frame: ") +
                             (ZSTD_isError(status) ? ZSTD_getErrorName(status) : "wrong size"));
      data = chunk->buffer.data();
      if (s.flags & format::kFrameStreamCoded) coding = &stream.coding;
      // Done with the compressed bytes: drop their pages from this process (they stay in the
      // page cache), so that reading a trace of any length keeps about a chunk per thread
      // resident, not the whole file (100M events: peak RSS 486 MiB before, see
      // docs/reliability.md).
      release_pages(s.offset - sizeof(format::FrameHeader), s.offset + s.stored_size);
    }
    chunk->decoder = std::make_unique<ChunkDecoder>(data, s.raw_size, s.base_time, info_.header.time_shift, s.tid,
                                                    s.compressed ? s.offset - sizeof(format::FrameHeader) : s.offset,
                                                    s.compressed, s.lenient, &info_.path, coding);
    if (chunk->decoder->advance()) {
      heap.push(chunk.get());
      storage.push_back(std::move(chunk));
      return true;
    }
    if (chunk->ends_stream) streams.erase(s.tid);
    free_list.push_back(std::move(chunk));
    return false;
  };
  // Opens the thread's next waiting chunk that has records, if any.
  auto continue_thread = [&](uint32_t tid) {
    merging.erase(tid);
    std::deque<size_t>& queue = waiting[tid];
    while (!queue.empty()) {
      const size_t index = queue.front();
      queue.pop_front();
      if (open_source(sources_[index])) {
        merging.insert(tid);
        return;
      }
    }
  };

  while (next < sources_.size() || !heap.empty()) {
    // Open every chunk that starts no later than the earliest pending record.
    while (next < sources_.size() &&
           (heap.empty() || (sources_[next].base_time << info_.header.time_shift) <= heap.top()->decoder->time_ns())) {
      const Source& s = sources_[next];
      if (merging.count(s.tid)) {
        waiting[s.tid].push_back(next);
      } else if (open_source(s)) {
        merging.insert(s.tid);
      }
      ++next;
    }
    if (heap.empty()) continue;
    OpenChunk* top = heap.top();
    heap.pop();
    // Deliver from this chunk for as long as its next record still comes first and no source
    // waits to be opened before it: one heap pop and push per run of records instead of per
    // record (a single-threaded trace is one long run; this was 19% of a report's instructions).
    // Neither the heap nor the next source changes during the run, so a record earlier than
    // both continues it without the full test.
    const uint64_t heap_ns = heap.empty() ? UINT64_MAX : heap.top()->decoder->time_ns();
    const uint64_t source_ns = next < sources_.size()
                                   ? sources_[next].base_time << info_.header.time_shift
                                   : UINT64_MAX;
    const uint64_t run_end_ns = std::min(heap_ns, source_ns);
    ChunkDecoder& decoder = *top->decoder;
    bool more;
    do {
      more = decoder.deliver_run(visitor, run_end_ns);
    } while (more && ((heap.empty() || !Later()(top, heap.top())) &&
                      (next >= sources_.size() ||
                       (sources_[next].base_time << info_.header.time_shift) > decoder.time_ns())));
    if (more) {
      heap.push(top);
    } else {
      const uint32_t tid = top->tid;
      auto it = std::find_if(storage.begin(), storage.end(),
                             [&](const auto& p) { return p.get() == top; });
      if (top->ends_stream) streams.erase(tid);
      free_list.push_back(std::move(*it));
      storage.erase(it);
      continue_thread(tid);
    }
  }
}

}  // namespace heapline::analysis
